#include "aos/events/logging/log_message_stream.h"

#include <algorithm>

#include "glog/logging.h"

namespace aos::logger {

Result<std::unique_ptr<LogMessageStream>> LogMessageStream::Open(
    const LogFile &log, std::string_view node) {
  std::unique_ptr<LogMessageStream> stream(new LogMessageStream());
  for (const LogParts &parts : log.parts) {
    if (!node.empty() && parts.node != node) continue;
    const bool holds_data =
        parts.data_stored.empty() ||
        std::find(parts.data_stored.begin(), parts.data_stored.end(),
                  StoredDataType::DATA) != parts.data_stored.end();
    if (!holds_data) continue;
    Sequence sequence;
    sequence.paths = parts.parts;
    sequence.max_out_of_order = parts.max_out_of_order_duration;
    stream->sequences_.push_back(std::move(sequence));
  }
  // Open every sequence's first part now, so a file that vanished since
  // sorting is an error here rather than a warning later.
  for (Sequence &sequence : stream->sequences_) {
    Result<std::unique_ptr<PartReader>> reader =
        PartReader::Open(sequence.paths[0]);
    if (!reader) return std::unexpected(reader.error());
    sequence.reader = std::move(*reader);
    sequence.next_path = 1;
  }
  return stream;
}

bool LogMessageStream::ReadOne(Sequence *sequence) {
  while (true) {
    if (sequence->reader == nullptr) {
      if (sequence->next_path == sequence->paths.size()) {
        sequence->done = true;
        return false;
      }
      const std::string &path = sequence->paths[sequence->next_path++];
      Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
      if (!reader) {
        warnings_.push_back(reader.error().message());
        LOG(WARNING) << warnings_.back();
        continue;
      }
      sequence->reader = std::move(*reader);
    }
    const MessageHeader *header = sequence->reader->ReadMessage();
    if (header == nullptr) {
      if (!sequence->reader->status().ok()) {
        warnings_.push_back(sequence->reader->status().message);
        LOG(WARNING) << "replaying up to the damage: " << warnings_.back();
      }
      sequence->reader.reset();
      continue;
    }
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = slots_.size();
      slots_.emplace_back();
    }
    LogMessage &message = slots_[slot];
    if (!free_buffers_.empty()) {
      message.data = std::move(free_buffers_.back());
      free_buffers_.pop_back();
    }
    message.channel_index = header->channel_index();
    message.monotonic_sent_time = monotonic_clock::time_point(
        std::chrono::nanoseconds(header->monotonic_sent_time()));
    message.realtime_sent_time = realtime_clock::time_point(
        std::chrono::nanoseconds(header->realtime_sent_time()));
    message.queue_index = header->queue_index();
    message.monotonic_remote_time = monotonic_clock::time_point(
        std::chrono::nanoseconds(header->monotonic_remote_time()));
    message.realtime_remote_time = realtime_clock::time_point(
        std::chrono::nanoseconds(header->realtime_remote_time()));
    message.remote_queue_index = header->remote_queue_index();
    message.monotonic_remote_transmit_time = monotonic_clock::time_point(
        std::chrono::nanoseconds(header->monotonic_remote_transmit_time()));
    message.has_data = header->data() != nullptr;
    if (message.has_data) {
      message.data.assign(header->data()->begin(), header->data()->end());
    } else {
      message.data.clear();
    }
    sequence->last_time = message.monotonic_sent_time;
    heap_.push_back(Key{message.monotonic_sent_time, message.channel_index,
                        message.queue_index, slot});
    std::push_heap(heap_.begin(), heap_.end(), Later());
    return true;
  }
}

std::optional<LogMessage> LogMessageStream::Next() {
  while (true) {
    // The sequence that may still hold the earliest unread message.
    Sequence *lagging = nullptr;
    monotonic_clock::time_point lagging_bound = monotonic_clock::max_time;
    for (Sequence &sequence : sequences_) {
      if (sequence.done) continue;
      const monotonic_clock::time_point bound =
          sequence.last_time == monotonic_clock::min_time
              ? monotonic_clock::min_time
              : sequence.last_time - sequence.max_out_of_order;
      if (lagging == nullptr || bound < lagging_bound) {
        lagging = &sequence;
        lagging_bound = bound;
      }
    }
    // Unread messages are all at or after lagging_bound, so anything earlier
    // in the heap is next.
    if (!heap_.empty() && (lagging == nullptr ||
                           heap_.front().monotonic_sent_time < lagging_bound)) {
      std::pop_heap(heap_.begin(), heap_.end(), Later());
      const uint32_t slot = heap_.back().slot;
      heap_.pop_back();
      free_slots_.push_back(slot);
      return std::move(slots_[slot]);
    }
    if (lagging == nullptr) return std::nullopt;
    ReadOne(lagging);
  }
}

void LogMessageStream::Recycle(LogMessage message) {
  if (free_buffers_.size() < 64) {
    free_buffers_.push_back(std::move(message.data));
  }
}

}  // namespace aos::logger
