#include "aos/events/logging/logger.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <limits>

#include "aos/events/logging/config_copy.h"
#include "aos/events/logging/logger_record.h"
#include "aos/events/logging/str_cat.h"
#include "aos/network/remote_message_generated.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

constexpr std::string_view kRemoteMessageType =
    "aos.message_bridge.RemoteMessage";
constexpr std::string_view kRemoteTimestampsPath = "/remote_timestamps/";

int64_t Nanoseconds(monotonic_clock::time_point time) {
  return time.time_since_epoch().count();
}
int64_t Nanoseconds(realtime_clock::time_point time) {
  return time.time_since_epoch().count();
}

// The destination node named in a remote timestamp channel's name
// (".../remote_timestamps/<node>[/...]"), or "" if it is not one.
std::string_view RemoteTimestampNode(const Channel *channel) {
  if (channel->type()->string_view() != kRemoteMessageType) return "";
  const std::string_view name = channel->name()->string_view();
  const size_t at = name.find(kRemoteTimestampsPath);
  if (at == std::string_view::npos) return "";
  std::string_view rest = name.substr(at + kRemoteTimestampsPath.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

struct Logger::ChannelState {
  const Channel *channel = nullptr;
  uint32_t channel_index = 0;
  std::unique_ptr<RawFetcher> fetcher;
  // Data: write its messages to the data parts of source_node_index.
  bool log_data = false;
  size_t source_node_index = 0;
  bool forwarded = false;
  // The connection to the logger node is reliable (time_to_live 0).
  bool reliable = false;
  // Delivery times of its messages on the logger node go to the timestamp
  // parts.
  bool log_delivery_times = false;
  // log_data only, from this node: every message takes the fast path in
  // WriteFetchedRecords.
  bool local_data_only = false;
  // A remote timestamp channel: its RemoteMessages go to the remote
  // timestamp parts of remote_node_index.
  bool remote_timestamps = false;
  size_t remote_node_index = 0;
  // fetcher->lost_messages() when this log started.
  uint64_t lost_at_start = 0;
  size_t statistics_index = 0;
  // Where its records go in the current log (looked up once per log).
  PartSequence *data_sequence = nullptr;
  PartSequence *timestamp_sequence = nullptr;
};

// What the logger learned about one node.
struct Logger::NodeState {
  UUID boot_uuid = UUID::Zero();
  // When the logger first heard from the node, on its clocks.
  monotonic_clock::time_point monotonic_start_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start_time = realtime_clock::min_time;
  // The header's oldest_* evidence for messages forwarded from this node.
  monotonic_clock::time_point oldest_remote = monotonic_clock::max_time;
  monotonic_clock::time_point oldest_local = monotonic_clock::max_time;
  monotonic_clock::time_point oldest_remote_unreliable =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_local_unreliable =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_remote_reliable =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_local_reliable = monotonic_clock::max_time;
  monotonic_clock::time_point oldest_remote_reliable_transmit =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_local_reliable_transmit =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_logger_remote_unreliable =
      monotonic_clock::max_time;
  monotonic_clock::time_point oldest_logger_local_unreliable =
      monotonic_clock::max_time;
};

Logger::Logger(EventLoop *event_loop, const Configuration *configuration,
               std::function<bool(const Channel *)> should_log)
    : event_loop_(event_loop),
      configuration_(configuration != nullptr ? configuration
                                              : event_loop->configuration()),
      node_(configuration::GetNode(configuration_, event_loop->node())),
      node_index_(node_ == nullptr
                      ? 0
                      : configuration::GetNodeIndex(configuration_, node_)),
      logger_instance_uuid_(UUID::Random()) {
  CHECK(configuration::MultiNode(configuration_) == (node_ != nullptr))
      << ": the logger's configuration and event loop disagree on whether "
         "the system is multi-node";
  nodes_.resize(std::max<size_t>(1, configuration::NodesCount(configuration_)));
  if (configuration_->channels() != nullptr) {
    for (const Channel *channel : *configuration_->channels()) {
      if (!configuration::ChannelIsReadableOnNode(channel, node_)) continue;
      auto state = std::make_unique<ChannelState>();
      state->channel = channel;
      state->channel_index = static_cast<uint32_t>(
          configuration::ChannelIndex(configuration_, channel));
      const std::string_view remote_node = RemoteTimestampNode(channel);
      if (node_ != nullptr && !remote_node.empty() &&
          configuration::ChannelIsSendableOnNode(channel, node_)) {
        const int index =
            configuration::GetNodeIndex(configuration_, remote_node);
        if (index < 0) continue;
        // Only worth reading if some channel's delivery times to that node
        // are logged here.
        bool wanted = false;
        for (const Channel *forwarded : *configuration_->channels()) {
          wanted |= configuration::ChannelIsSendableOnNode(forwarded, node_) &&
                    configuration::ConnectionDeliveryTimeIsLoggedOnNode(
                        forwarded,
                        configuration::GetNode(configuration_,
                                               static_cast<size_t>(index)),
                        node_);
        }
        if (!wanted) continue;
        state->remote_timestamps = true;
        state->remote_node_index = static_cast<size_t>(index);
      } else {
        state->log_data =
            configuration::ChannelMessageIsLoggedOnNode(channel, node_) &&
            (!should_log || should_log(channel));
        if (node_ != nullptr) {
          state->source_node_index = static_cast<size_t>(
              configuration::SourceNodeIndex(configuration_, channel));
          state->forwarded = state->source_node_index != node_index_;
          if (state->forwarded) {
            const Connection *connection =
                configuration::ConnectionToNode(channel, node_);
            state->reliable =
                connection != nullptr && connection->time_to_live() == 0;
            state->log_delivery_times =
                configuration::ConnectionDeliveryTimeIsLoggedOnNode(
                    channel, node_, node_);
          }
        }
        if (!state->log_data && !state->log_delivery_times) continue;
        state->local_data_only =
            state->log_data && !state->forwarded && !state->log_delivery_times;
      }
      // The loop reads its own configuration's channel of that name and
      // type; indices in the log refer to configuration_.
      const Channel *loop_channel =
          configuration_ == event_loop_->configuration()
              ? channel
              : configuration::GetChannel(event_loop_->configuration(),
                                          channel->name()->string_view(),
                                          channel->type()->string_view(), "",
                                          event_loop_->node(), true);
      if (loop_channel == nullptr) continue;
      state->fetcher = event_loop_->MakeRawFetcher(loop_channel);
      // A logger that falls behind skips ahead and counts what it missed,
      // rather than dying and losing everything after.
      state->fetcher->set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);
      state->statistics_index = statistics_.size();
      statistics_.push_back(ChannelStatistics{.channel = channel});
      channels_.push_back(std::move(state));
    }
  }
  start_order_.reserve(channels_.size());
  timer_ = event_loop_->AddTimer([this]() {
    if (namer_ == nullptr || stopped_by_error_) return;
    LogUntil(event_loop_->monotonic_now() - logging_delay_);
    MaybeFlushAndRotate();
    WriteProfilingSamples();
    if (on_logged_period_) on_logged_period_();
  });
  timer_->set_name("logger");
}

Logger::~Logger() {
  if (is_logging()) StopLogging();
  Result<void> ignored = SetProfilingPath(std::nullopt);
  (void)ignored;
}

namespace {

constexpr size_t kProfilingSamples = 4096;
constexpr size_t kProfilingText = 256 * 1024;

int64_t MonotonicNanoseconds() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

}  // namespace

Result<void> Logger::SetProfilingPath(
    const std::optional<std::filesystem::path> &profiling_path) {
  if (profiling_fd_ >= 0) {
    WriteProfilingSamples();
    if (profiling_fd_ >= 0) close(profiling_fd_);
    profiling_fd_ = -1;
  }
  if (!profiling_path) return {};
  profiling_path_ = profiling_path->string();
  const int fd = open(profiling_path_.c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(StrCat("Cannot create the logger profiling file ",
                            profiling_path_, ": ", std::strerror(errno),
                            ". Give SetProfilingPath a writable path."));
  }
  profiling_fd_ = fd;
  profiling_samples_.clear();
  profiling_samples_.reserve(kProfilingSamples);
  profiling_text_.resize(kProfilingText);
  constexpr std::string_view kHeader =
      "# channel_name,channel_type,encode_duration_ns,encoding_start_time_ns,"
      "message_time_s\n";
  std::memcpy(profiling_text_.data(), kHeader.data(), kHeader.size());
  size_t used = kHeader.size();
  if (write(profiling_fd_, profiling_text_.data(), used) !=
      static_cast<ssize_t>(used)) {
    const int error_number = errno;
    close(profiling_fd_);
    profiling_fd_ = -1;
    return MakeError(StrCat("Cannot write the logger profiling file ",
                            profiling_path_, ": ", std::strerror(error_number),
                            "."));
  }
  return {};
}

void Logger::WriteProfilingSamples() {
  if (profiling_fd_ < 0 || profiling_samples_.empty()) return;
  size_t used = 0;
  bool failed = false;
  const auto write_out = [&]() {
    if (used == 0 || failed) return;
    if (write(profiling_fd_, profiling_text_.data(), used) !=
        static_cast<ssize_t>(used)) {
      failed = true;
    }
    used = 0;
  };
  for (const ProfilingSample &sample : profiling_samples_) {
    const Channel *channel = statistics_[sample.statistics_index].channel;
    const std::string_view name = channel->name()->string_view();
    const std::string_view type = channel->type()->string_view();
    // Room for the names, four numbers and separators.
    if (profiling_text_.size() - used < name.size() + type.size() + 96) {
      write_out();
    }
    const int64_t seconds = sample.message_time_ns / 1000000000;
    int64_t fraction = sample.message_time_ns % 1000000000;
    const bool negative = sample.message_time_ns < 0;
    if (negative) fraction = -fraction;
    const int n = snprintf(
        profiling_text_.data() + used, profiling_text_.size() - used,
        "%.*s,%.*s,%" PRId64 ",%" PRId64 ",%s%" PRId64 ".%09" PRId64 "\n",
        static_cast<int>(name.size()), name.data(),
        static_cast<int>(type.size()), type.data(), sample.encode_ns,
        sample.encode_start_ns, negative && seconds == 0 ? "-" : "", seconds,
        fraction);
    if (n > 0) {
      used += std::min(static_cast<size_t>(n), profiling_text_.size() - used);
    }
  }
  write_out();
  profiling_samples_.clear();
  if (failed) {
    LOG(ERROR) << "Writing the logger profiling file " << profiling_path_
               << " failed: " << std::strerror(errno)
               << "; profiling stopped (logging goes on).";
    close(profiling_fd_);
    profiling_fd_ = -1;
  }
}

void Logger::Fail(Error error) {
  if (stopped_by_error_) return;
  stopped_by_error_ = true;
  LOG(ERROR) << "Logging stopped: " << error.message();
  error_ = std::move(error);
  timer_->Disable();
  // Close what can be closed; the writer that failed keeps its error.
  Result<void> ignored = namer_->Close();
  (void)ignored;
}

void Logger::StartLoggingOnRun(std::string base_name) {
  event_loop_->OnRun([this, base_name = std::move(base_name)]() {
    StartLogging(std::make_unique<LogNamer>(base_name, configuration_, node_));
  });
}

void Logger::StartLogging(std::unique_ptr<LogNamer> namer,
                          std::optional<UUID> log_start_uuid) {
  CHECK(namer_ == nullptr) << ": Already logging";
  CHECK(namer != nullptr) << ": StartLogging needs a LogNamer";
  namer_ = std::move(namer);
  stopped_by_error_ = false;
  error_.reset();
  log_event_uuid_ = UUID::Random();
  log_start_uuid_ = log_start_uuid;
  config_sha256_.clear();
  for (NodeState &node : nodes_) node = NodeState();
  // Looked up now, so that a channel's first message allocates nothing.
  for (const std::unique_ptr<ChannelState> &state : channels_) {
    state->data_sequence = state->log_data
                               ? namer_->DataSequence(state->source_node_index)
                               : nullptr;
    if (state->remote_timestamps) {
      state->timestamp_sequence =
          namer_->RemoteTimestampSequence(state->remote_node_index);
    } else if (state->log_delivery_times) {
      state->timestamp_sequence = namer_->TimestampSequence();
    } else {
      state->timestamp_sequence = nullptr;
    }
  }
  for (ChannelStatistics &statistics : statistics_) {
    statistics = ChannelStatistics{.channel = statistics.channel};
  }
  nodes_[node_index_].boot_uuid = event_loop_->boot_uuid();

  if (separate_config_) {
    builder_.Clear();
    const flatbuffers::Offset<Configuration> configuration =
        CopyConfiguration(configuration_, &builder_);
    LogFileHeader::Builder header(builder_);
    header.add_configuration(configuration);
    builder_.Align(kPartAlignment);
    builder_.FinishSizePrefixed(header.Finish());
    Result<std::string> sha256 = namer_->WriteConfiguration(
        {builder_.GetBufferPointer(), builder_.GetSize()});
    if (!sha256) {
      Fail(sha256.error());
      return;
    }
    config_sha256_ = *sha256;
  }

  monotonic_start_time_ = event_loop_->monotonic_now();
  realtime_start_time_ = event_loop_->realtime_now();
  nodes_[node_index_].monotonic_start_time = monotonic_start_time_;
  nodes_[node_index_].realtime_start_time = realtime_start_time_;
  last_flush_time_ = monotonic_start_time_;

  // The logger node's data part exists even if nothing is ever sent.
  OpenPart(namer_->DataSequence(node_index_));
  if (stopped_by_error_) return;

  // The latest message of every channel: the state at the start, written
  // oldest first (each may be from long before the start), so that the part
  // stays within max_out_of_order_duration. A restart writes the message the
  // fetcher already holds again.
  start_order_.clear();
  for (const std::unique_ptr<ChannelState> &state : channels_) {
    const int64_t fetch_start = MonotonicNanoseconds();
    const bool fetched = state->fetcher->Fetch();
    CountFetch(
        *state, std::chrono::nanoseconds(MonotonicNanoseconds() - fetch_start),
        fetched ? 1 : 0,
        fetched ? static_cast<int64_t>(state->fetcher->context().size) : 0);
    state->lost_at_start = state->fetcher->lost_messages();
    if (fetched || state->fetcher->context().data != nullptr) {
      start_order_.push_back(state.get());
    }
  }
  // Send time, ties by channel index (capacity reserved: no allocation).
  std::sort(start_order_.begin(), start_order_.end(),
            [](const ChannelState *a, const ChannelState *b) {
              const monotonic_clock::time_point ta =
                  a->fetcher->context().monotonic_event_time;
              const monotonic_clock::time_point tb =
                  b->fetcher->context().monotonic_event_time;
              return ta != tb ? ta < tb : a->channel_index < b->channel_index;
            });
  for (ChannelState *state : start_order_) {
    const uint64_t bytes_before = statistics_[state->statistics_index].bytes;
    const int64_t copied_before = copied_records_;
    const int64_t write_start = MonotonicNanoseconds();
    WriteFetched(state, state->fetcher->context());
    CountCopy(*state,
              std::chrono::nanoseconds(MonotonicNanoseconds() - write_start),
              copied_records_ - copied_before,
              static_cast<int64_t>(statistics_[state->statistics_index].bytes -
                                   bytes_before));
    if (stopped_by_error_) return;
  }
  last_logged_until_ = monotonic_start_time_;
  LogUntil(monotonic_start_time_);
  timer_->Schedule(monotonic_start_time_ + polling_period_, polling_period_);
}

void Logger::CountLost(ChannelState *state) {
  statistics_[state->statistics_index].lost =
      state->fetcher->lost_messages() - state->lost_at_start;
}

void Logger::LogUntil(monotonic_clock::time_point until) {
  // Each channel's messages are written in runs (all of a channel's
  // messages up to a time, then the next channel's), like upstream's logger:
  // no merge per message. The file is then sorted only to within the span of
  // a run, so runs never span more than a polling period (a late poll
  // catches up in polling-period steps), which the header's
  // max_out_of_order_duration states and readers sort by (see
  // log_message_stream.h).
  while (!stopped_by_error_ && polling_period_.count() > 0 &&
         last_logged_until_ + polling_period_ < until) {
    LogRuns(last_logged_until_ + polling_period_);
  }
  if (!stopped_by_error_) LogRuns(until);
}

bool Logger::TryWriteLocal(ChannelState *state, const Context &context) {
  if (!state->local_data_only || context.data == nullptr) return false;
  PartWriter *const writer = state->data_sequence->writer.get();
  if (writer == nullptr ||
      !TryAppendLocalMessageRecord(
          state->channel_index, Nanoseconds(context.monotonic_event_time),
          Nanoseconds(context.realtime_event_time), context.queue_index,
          {static_cast<const uint8_t *>(context.data), context.size}, writer))
      [[unlikely]] {
    return false;
  }
  ChannelStatistics &statistics = statistics_[state->statistics_index];
  statistics.bytes += context.size;
  ++statistics.messages;
  ++copied_records_;
  return true;
}

void Logger::LogRuns(monotonic_clock::time_point until) {
  // Each run is timed as a whole (see the statistics getters): one clock
  // read per run boundary, none per message.
  int64_t run_start = MonotonicNanoseconds();
  for (const std::unique_ptr<ChannelState> &state : channels_) {
    ChannelState *const raw = state.get();
    const ChannelStatistics &statistics = statistics_[raw->statistics_index];
    const uint64_t bytes_before = statistics.bytes;
    const int64_t copied_before = copied_records_;
    int64_t fetched_bytes = 0;
    size_t fetched;
    if (raw->local_data_only && profiling_fd_ < 0) {
      // Most channels: the fast path inlined in the visitor, the general
      // one (a part to open, a full buffer) when it declines.
      fetched = state->fetcher->FetchNextUntil(
          until, [this, raw, &fetched_bytes](const Context &context) {
            fetched_bytes += static_cast<int64_t>(context.size);
            if (!TryWriteLocal(raw, context)) [[unlikely]] {
              WriteFetchedRecords(raw, context);
            }
            return !stopped_by_error_;
          });
    } else {
      fetched = state->fetcher->FetchNextUntil(
          until, [this, raw, &fetched_bytes](const Context &context) {
            fetched_bytes += static_cast<int64_t>(context.size);
            WriteFetched(raw, context);
            return !stopped_by_error_;
          });
    }
    CountLost(raw);
    const int64_t run_end = MonotonicNanoseconds();
    const std::chrono::nanoseconds run_time(run_end - run_start);
    run_start = run_end;
    CountFetch(*raw, run_time, static_cast<int64_t>(fetched), fetched_bytes);
    CountCopy(*raw, run_time, copied_records_ - copied_before,
              static_cast<int64_t>(statistics.bytes - bytes_before));
    if (stopped_by_error_) return;
  }
  last_logged_until_ = std::max(last_logged_until_, until);
}

void Logger::CountFetch(const ChannelState &state,
                        std::chrono::nanoseconds time, int64_t count,
                        int64_t bytes) {
  FetchStatistics &s = fetch_statistics_;
  if (count == 0) {
    s.total_nop_fetch_time += time;
    ++s.total_nop_fetch_count;
    return;
  }
  s.total_message_fetch_time += time;
  s.total_message_fetch_count += count;
  s.total_message_fetch_bytes += bytes;
  if (time > s.max_message_fetch_time || s.max_message_fetch_time_channel < 0) {
    s.max_message_fetch_time = time;
    s.max_message_fetch_time_channel = static_cast<int>(state.channel_index);
    s.max_message_fetch_time_size = static_cast<int>(
        std::min<int64_t>(bytes, std::numeric_limits<int>::max()));
  }
}

void Logger::CountCopy(const ChannelState &state, std::chrono::nanoseconds time,
                       int64_t count, int64_t bytes) {
  if (count == 0) return;
  FetchStatistics &s = fetch_statistics_;
  s.total_copy_time += time;
  s.total_copy_count += count;
  s.total_copy_bytes += bytes;
  if (time > s.max_copy_time || s.max_copy_time_channel < 0) {
    s.max_copy_time = time;
    s.max_copy_time_channel = static_cast<int>(state.channel_index);
    s.max_copy_time_size = static_cast<int>(
        std::min<int64_t>(bytes, std::numeric_limits<int>::max()));
  }
}

void Logger::WriteRecord(PartSequence *sequence, const MessageRecord &record) {
  if (stopped_by_error_) return;
  // Laid out in place in the writer's buffer: the payload's only copy.
  if (Result<void> result = AppendMessageRecord(record, sequence->writer.get());
      !result) {
    Fail(result.error());
  }
}

void Logger::WriteFetched(ChannelState *state, const Context &context) {
  if (profiling_fd_ < 0) {
    WriteFetchedRecords(state, context);
    return;
  }
  const int64_t start = MonotonicNanoseconds();
  WriteFetchedRecords(state, context);
  const int64_t end = MonotonicNanoseconds();
  profiling_samples_.push_back(ProfilingSample{
      .statistics_index = state->statistics_index,
      .encode_ns = end - start,
      .encode_start_ns = start,
      .message_time_ns = Nanoseconds(context.monotonic_event_time)});
  if (profiling_samples_.size() == profiling_samples_.capacity()) {
    WriteProfilingSamples();
  }
}

void Logger::WriteFetchedRecords(ChannelState *state, const Context &context) {
  ChannelStatistics &statistics = statistics_[state->statistics_index];

  if (TryWriteLocal(state, context)) return;

  if (state->remote_timestamps) {
    const auto *remote =
        flatbuffers::GetRoot<message_bridge::RemoteMessage>(context.data);
    const size_t node = state->remote_node_index;
    const Channel *original =
        configuration::GetChannel(configuration_, remote->channel_index());
    if (original == nullptr ||
        !configuration::ConnectionDeliveryTimeIsLoggedOnNode(
            original, configuration::GetNode(configuration_, node), node_)) {
      return;
    }
    NodeState &node_state = nodes_[node];
    if (remote->boot_uuid() != nullptr && remote->boot_uuid()->size() == 16) {
      node_state.boot_uuid = UUID::FromSpan(std::span<const uint8_t>(
          remote->boot_uuid()->data(), remote->boot_uuid()->size()));
    }
    const Connection *connection = configuration::ConnectionToNode(
        original, configuration::GetNode(configuration_, node));
    if (connection != nullptr && connection->time_to_live() != 0 &&
        node_state.oldest_logger_remote_unreliable ==
            monotonic_clock::max_time) {
      node_state.oldest_logger_remote_unreliable = monotonic_clock::time_point(
          std::chrono::nanoseconds(remote->monotonic_sent_time()));
      node_state.oldest_logger_local_unreliable = context.monotonic_event_time;
    }
    if (state->timestamp_sequence == nullptr) {
      state->timestamp_sequence = namer_->RemoteTimestampSequence(node);
    }
    PartSequence *sequence = state->timestamp_sequence;
    if (!sequence->writer ||
        sequence->source_boot_uuid != node_state.boot_uuid) {
      OpenPart(sequence);
      if (stopped_by_error_) return;
    }
    MessageRecord record;
    record.channel_index = remote->channel_index();
    record.monotonic_sent_time = remote->monotonic_sent_time();
    record.realtime_sent_time = remote->realtime_sent_time();
    record.queue_index = remote->queue_index();
    record.has_remote = true;
    record.monotonic_remote_time = remote->monotonic_remote_time();
    record.realtime_remote_time = remote->realtime_remote_time();
    record.remote_queue_index = remote->remote_queue_index();
    record.monotonic_remote_transmit_time =
        remote->monotonic_remote_transmit_time();
    record.has_timestamp_time = true;
    record.monotonic_timestamp_time = Nanoseconds(context.monotonic_event_time);
    WriteRecord(sequence, record);
    ++statistics.messages;
    return;
  }

  if (state->forwarded) {
    NodeState &node_state = nodes_[state->source_node_index];
    node_state.boot_uuid = context.source_boot_uuid;
    if (node_state.monotonic_start_time == monotonic_clock::min_time) {
      node_state.monotonic_start_time = context.monotonic_remote_time;
      node_state.realtime_start_time = context.realtime_remote_time;
    }
    if (node_state.oldest_remote == monotonic_clock::max_time) {
      node_state.oldest_remote = context.monotonic_remote_time;
      node_state.oldest_local = context.monotonic_event_time;
    }
    if (state->reliable) {
      if (node_state.oldest_remote_reliable == monotonic_clock::max_time) {
        node_state.oldest_remote_reliable = context.monotonic_remote_time;
        node_state.oldest_local_reliable = context.monotonic_event_time;
        node_state.oldest_remote_reliable_transmit =
            context.monotonic_remote_transmit_time;
        node_state.oldest_local_reliable_transmit =
            context.monotonic_event_time;
      }
    } else if (node_state.oldest_remote_unreliable ==
               monotonic_clock::max_time) {
      node_state.oldest_remote_unreliable = context.monotonic_remote_time;
      node_state.oldest_local_unreliable = context.monotonic_event_time;
    }
  }

  MessageRecord record;
  record.channel_index = state->channel_index;
  record.monotonic_sent_time = Nanoseconds(context.monotonic_event_time);
  record.realtime_sent_time = Nanoseconds(context.realtime_event_time);
  record.queue_index = context.queue_index;
  if (state->forwarded) {
    record.has_remote = true;
    record.monotonic_remote_time = Nanoseconds(context.monotonic_remote_time);
    record.realtime_remote_time = Nanoseconds(context.realtime_remote_time);
    record.remote_queue_index = context.remote_queue_index;
    record.monotonic_remote_transmit_time =
        Nanoseconds(context.monotonic_remote_transmit_time);
  }

  if (state->log_data && context.data != nullptr) {
    if (state->data_sequence == nullptr) {
      state->data_sequence = namer_->DataSequence(state->source_node_index);
    }
    PartSequence *sequence = state->data_sequence;
    if (!sequence->writer ||
        (state->forwarded &&
         sequence->source_boot_uuid != context.source_boot_uuid)) {
      OpenPart(sequence);
      if (stopped_by_error_) return;
    }
    record.has_data = true;
    record.data = {static_cast<const uint8_t *>(context.data), context.size};
    WriteRecord(sequence, record);
    record.has_data = false;
    record.data = {};
    statistics.bytes += context.size;
    ++copied_records_;
  }
  if (state->log_delivery_times) {
    if (state->timestamp_sequence == nullptr) {
      state->timestamp_sequence = namer_->TimestampSequence();
    }
    PartSequence *sequence = state->timestamp_sequence;
    if (!sequence->writer || sequence->boot_uuids[state->source_node_index] !=
                                 nodes_[state->source_node_index].boot_uuid) {
      OpenPart(sequence);
      if (stopped_by_error_) return;
    }
    WriteRecord(sequence, record);
  }
  ++statistics.messages;
}

void Logger::BuildHeader(const PartSequence &sequence) {
  builder_.Clear();
  const size_t node_count = nodes_.size();
  flatbuffers::Offset<Configuration> configuration;
  flatbuffers::Offset<flatbuffers::String> config_sha256;
  if (separate_config_) {
    config_sha256 = builder_.CreateString(config_sha256_);
  } else {
    configuration = CopyConfiguration(configuration_, &builder_);
  }
  const auto name = builder_.CreateString(name_);
  const auto logger_sha1 =
      logger_sha1_.empty() ? 0 : builder_.CreateString(logger_sha1_);
  const auto logger_version =
      logger_version_.empty() ? 0 : builder_.CreateString(logger_version_);
  const auto log_event_uuid = builder_.CreateString(log_event_uuid_.ToString());
  const auto logger_instance_uuid =
      builder_.CreateString(logger_instance_uuid_.ToString());
  const auto logger_node_boot_uuid =
      builder_.CreateString(event_loop_->boot_uuid().ToString());
  const UUID &source_boot = nodes_[sequence.node_index].boot_uuid;
  const auto source_node_boot_uuid = builder_.CreateString(
      source_boot == UUID::Zero() ? "" : source_boot.ToString());
  const auto log_start_uuid =
      log_start_uuid_ ? builder_.CreateString(log_start_uuid_->ToString()) : 0;
  const auto parts_uuid = builder_.CreateString(sequence.parts_uuid.ToString());
  flatbuffers::Offset<Node> node;
  flatbuffers::Offset<Node> logger_node;
  if (node_ != nullptr) {
    std::unique_ptr<NodeT> unpacked(
        configuration::GetNode(configuration_, sequence.node_index)->UnPack());
    node = Node::Pack(builder_, unpacked.get());
    unpacked.reset(node_->UnPack());
    logger_node = Node::Pack(builder_, unpacked.get());
  }
  std::vector<flatbuffers::Offset<flatbuffers::String>> boot_uuid_offsets;
  for (const NodeState &state : nodes_) {
    boot_uuid_offsets.push_back(builder_.CreateString(
        state.boot_uuid == UUID::Zero() ? "" : state.boot_uuid.ToString()));
  }
  const auto boot_uuids = builder_.CreateVector(boot_uuid_offsets);
  const auto times = [&](monotonic_clock::time_point NodeState::*field) {
    std::vector<int64_t> values(node_count);
    for (size_t i = 0; i < node_count; ++i) {
      values[i] = Nanoseconds(nodes_[i].*field);
    }
    return builder_.CreateVector(values);
  };
  const auto oldest_remote = times(&NodeState::oldest_remote);
  const auto oldest_local = times(&NodeState::oldest_local);
  const auto oldest_remote_unreliable =
      times(&NodeState::oldest_remote_unreliable);
  const auto oldest_local_unreliable =
      times(&NodeState::oldest_local_unreliable);
  const auto oldest_remote_reliable = times(&NodeState::oldest_remote_reliable);
  const auto oldest_local_reliable = times(&NodeState::oldest_local_reliable);
  const auto oldest_logger_remote_unreliable =
      times(&NodeState::oldest_logger_remote_unreliable);
  const auto oldest_logger_local_unreliable =
      times(&NodeState::oldest_logger_local_unreliable);
  const auto oldest_remote_transmit =
      times(&NodeState::oldest_remote_reliable_transmit);
  const auto oldest_local_transmit =
      times(&NodeState::oldest_local_reliable_transmit);
  const StoredDataType stored[] = {sequence.data_stored};
  const flatbuffers::Offset<flatbuffers::Vector<StoredDataType>> data_stored(
      builder_
          .CreateVector(reinterpret_cast<const uint8_t *>(stored),
                        std::size(stored))
          .o);

  LogFileHeader::Builder header(builder_);
  const NodeState &about = nodes_[sequence.node_index];
  header.add_monotonic_start_time(Nanoseconds(about.monotonic_start_time));
  header.add_realtime_start_time(Nanoseconds(about.realtime_start_time));
  header.add_max_out_of_order_duration(
      (polling_period_ + logging_delay_).count());
  if (!configuration.IsNull()) header.add_configuration(configuration);
  if (!config_sha256.IsNull()) header.add_configuration_sha256(config_sha256);
  header.add_name(name);
  if (!node.IsNull()) {
    header.add_node(node);
    header.add_logger_node(logger_node);
  }
  header.add_log_event_uuid(log_event_uuid);
  header.add_logger_instance_uuid(logger_instance_uuid);
  header.add_logger_node_boot_uuid(logger_node_boot_uuid);
  header.add_source_node_boot_uuid(source_node_boot_uuid);
  header.add_logger_monotonic_start_time(Nanoseconds(monotonic_start_time_));
  header.add_logger_realtime_start_time(Nanoseconds(realtime_start_time_));
  if (!log_start_uuid.IsNull()) header.add_log_start_uuid(log_start_uuid);
  header.add_parts_uuid(parts_uuid);
  header.add_parts_index(sequence.parts_index);
  header.add_boot_uuids(boot_uuids);
  header.add_logger_part_monotonic_start_time(
      Nanoseconds(event_loop_->monotonic_now()));
  header.add_logger_part_realtime_start_time(
      Nanoseconds(event_loop_->realtime_now()));
  header.add_oldest_remote_monotonic_timestamps(oldest_remote);
  header.add_oldest_local_monotonic_timestamps(oldest_local);
  header.add_oldest_remote_unreliable_monotonic_timestamps(
      oldest_remote_unreliable);
  header.add_oldest_local_unreliable_monotonic_timestamps(
      oldest_local_unreliable);
  header.add_oldest_remote_reliable_monotonic_timestamps(
      oldest_remote_reliable);
  header.add_oldest_local_reliable_monotonic_timestamps(oldest_local_reliable);
  header.add_oldest_logger_remote_unreliable_monotonic_timestamps(
      oldest_logger_remote_unreliable);
  header.add_oldest_logger_local_unreliable_monotonic_timestamps(
      oldest_logger_local_unreliable);
  if (!logger_sha1.IsNull()) header.add_logger_sha1(logger_sha1);
  if (!logger_version.IsNull()) header.add_logger_version(logger_version);
  header.add_data_stored(data_stored);
  header.add_oldest_remote_reliable_monotonic_transmit_timestamps(
      oldest_remote_transmit);
  header.add_oldest_local_reliable_monotonic_transmit_timestamps(
      oldest_local_transmit);
  builder_.Align(kPartAlignment);
  builder_.FinishSizePrefixed(header.Finish());
}

void Logger::OpenPart(PartSequence *sequence) {
  if (stopped_by_error_) return;
  sequence->source_boot_uuid = nodes_[sequence->node_index].boot_uuid;
  sequence->boot_uuids.clear();
  for (const NodeState &node : nodes_) {
    sequence->boot_uuids.push_back(node.boot_uuid);
  }
  // The index the new part gets (OpenPart bumps it past an open part).
  const bool has_open_part = sequence->writer != nullptr;
  if (has_open_part) ++sequence->parts_index;
  BuildHeader(*sequence);
  if (has_open_part) --sequence->parts_index;
  Result<void> result = namer_->OpenPart(
      sequence, {builder_.GetBufferPointer(), builder_.GetSize()});
  if (!result) Fail(result.error());
}

void Logger::MaybeFlushAndRotate() {
  if (stopped_by_error_) return;
  const monotonic_clock::time_point now = event_loop_->monotonic_now();
  if (now - last_flush_time_ >= flush_period_) {
    last_flush_time_ = now;
    if (Result<void> result = namer_->Flush(sync_); !result) {
      Fail(result.error());
      return;
    }
  }
  if (rotate_every_bytes_ > 0) {
    uint64_t bytes = 0;
    for (const std::unique_ptr<PartSequence> &sequence : namer_->sequences()) {
      if (sequence->writer) {
        bytes = std::max(bytes, sequence->writer->file_bytes() +
                                    sequence->writer->unflushed_bytes());
      }
    }
    if (bytes >= rotate_every_bytes_) Rotate();
  }
}

void Logger::Rotate() {
  CHECK(namer_ != nullptr) << ": Not logging right now";
  if (stopped_by_error_) return;
  LogUntil(event_loop_->monotonic_now() - logging_delay_);
  for (const std::unique_ptr<PartSequence> &sequence : namer_->sequences()) {
    if (sequence->writer) OpenPart(sequence.get());
    if (stopped_by_error_) return;
  }
}

std::unique_ptr<LogNamer> Logger::StopLogging(
    monotonic_clock::time_point end_time) {
  CHECK(namer_ != nullptr) << ": Not logging right now";
  if (!stopped_by_error_) {
    LogUntil(end_time == monotonic_clock::min_time
                 ? event_loop_->monotonic_now()
                 : end_time);
  }
  timer_->Disable();
  WriteProfilingSamples();
  if (!stopped_by_error_) {
    if (Result<void> result = namer_->Close(); !result) {
      Fail(result.error());
    }
  }
  return std::move(namer_);
}

std::unique_ptr<LogNamer> Logger::RestartLogging(
    std::unique_ptr<LogNamer> namer, std::optional<UUID> log_start_uuid,
    monotonic_clock::time_point end_time) {
  std::unique_ptr<LogNamer> old = StopLogging(end_time);
  StartLogging(std::move(namer), log_start_uuid);
  return old;
}

}  // namespace aos::logger
