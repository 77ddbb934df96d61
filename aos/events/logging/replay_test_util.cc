#include "aos/events/logging/replay_test_util.h"

#include "aos/configuration.h"
#include "aos/events/logging/logger_generated.h"
#include "glog/logging.h"

namespace aos::logger::testing {

TestRecorder::TestRecorder(EventLoop *event_loop, std::string base,
                           TestRecorderOptions options)
    : event_loop_(event_loop), base_(std::move(base)), options_(options) {
  for (const Channel *channel : *event_loop_->configuration()->channels()) {
    fetchers_.push_back(
        configuration::ChannelIsReadableOnNode(channel, event_loop_->node())
            ? event_loop_->MakeRawFetcher(channel)
            : nullptr);
  }
  timer_ = event_loop_->AddTimer([this]() { Poll(); });
  event_loop_->OnRun([this]() {
    monotonic_start_ = event_loop_->monotonic_now();
    realtime_start_ = event_loop_->realtime_now();
    OpenPart();
    // The state before the start: each channel's latest message.
    for (size_t i = 0; i < fetchers_.size(); ++i) {
      if (fetchers_[i] != nullptr && fetchers_[i]->Fetch()) {
        Write(i, fetchers_[i]->context());
      }
    }
    timer_->Schedule(monotonic_start_ + options_.polling_period,
                     options_.polling_period);
  });
}

TestRecorder::~TestRecorder() {
  if (writer_ != nullptr) Stop();
}

void TestRecorder::OpenPart() {
  if (writer_ != nullptr) CheckExpected(writer_->Close());
  const std::string path = base_ + ".part" + std::to_string(parts_.size()) +
                           std::string(PartExtension(options_.compression));
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(path, {.compression = options_.compression});
  CheckExpected(writer);
  writer_ = std::move(*writer);

  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  std::unique_ptr<ConfigurationT> config(
      event_loop_->configuration()->UnPack());
  const auto config_offset = Configuration::Pack(fbb, config.get());
  const auto name = fbb.CreateString("test_log");
  const auto log_event_uuid =
      fbb.CreateString(options_.log_event_uuid.ToString());
  const auto parts_uuid = fbb.CreateString(parts_uuid_.ToString());
  const auto log_start_uuid =
      fbb.CreateString(options_.log_start_uuid.ToString());
  const auto logger_instance_uuid = fbb.CreateString(UUID::Random().ToString());
  const auto data_stored =
      fbb.CreateVector(std::vector<StoredDataType>{StoredDataType::DATA});
  LogFileHeader::Builder header(fbb);
  header.add_configuration(config_offset);
  header.add_name(name);
  header.add_log_event_uuid(log_event_uuid);
  header.add_parts_uuid(parts_uuid);
  header.add_parts_index(parts_.size());
  header.add_log_start_uuid(log_start_uuid);
  header.add_logger_instance_uuid(logger_instance_uuid);
  header.add_monotonic_start_time(monotonic_start_.time_since_epoch().count());
  header.add_realtime_start_time(realtime_start_.time_since_epoch().count());
  header.add_max_out_of_order_duration((2 * options_.polling_period).count());
  header.add_data_stored(data_stored);
  fbb.FinishSizePrefixed(header.Finish());
  CheckExpected(
      writer_->Write(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
  parts_.push_back(path);
  part_messages_ = 0;
}

void TestRecorder::Poll() {
  for (size_t i = 0; i < fetchers_.size(); ++i) {
    if (fetchers_[i] == nullptr) continue;
    while (fetchers_[i]->FetchNext()) Write(i, fetchers_[i]->context());
  }
}

void TestRecorder::Write(size_t channel_index, const Context &context) {
  if (options_.rotate_every_messages != 0 &&
      part_messages_ == options_.rotate_every_messages) {
    OpenPart();
  }
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  const auto data = fbb.CreateVector(static_cast<const uint8_t *>(context.data),
                                     context.size);
  MessageHeader::Builder header(fbb);
  header.add_channel_index(channel_index);
  header.add_monotonic_sent_time(
      context.monotonic_event_time.time_since_epoch().count());
  header.add_realtime_sent_time(
      context.realtime_event_time.time_since_epoch().count());
  header.add_queue_index(context.queue_index);
  header.add_data(data);
  fbb.FinishSizePrefixed(header.Finish());
  CheckExpected(
      writer_->Write(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
  ++messages_;
  ++part_messages_;
}

void TestRecorder::Stop() {
  Poll();
  CheckExpected(writer_->Close());
  writer_.reset();
  timer_->Disable();
}

}  // namespace aos::logger::testing
