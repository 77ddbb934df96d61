#include "aos/events/logging/multinode_replay.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <set>
#include <tuple>

#include "aos/events/logging/part_reader.h"
#include "glog/logging.h"

namespace aos::logger::internal {
namespace {

using Int = __int128;
using Samples = std::vector<std::pair<int64_t, int64_t>>;

int64_t Nanos(monotonic_clock::time_point t) {
  return t.time_since_epoch().count();
}

// The y at x of the line through (x0, y0), (x1, y1), rounded down or up.
int64_t Interpolate(int64_t x0, int64_t y0, int64_t x1, int64_t y1, int64_t x,
                    bool round_up) {
  const Int num = static_cast<Int>(x - x0) * (y1 - y0);
  const Int den = x1 - x0;
  Int q = num / den;
  const Int r = num % den;
  if (r != 0) {
    const bool negative = (r < 0) != (den < 0);
    if (negative && !round_up) --q;
    if (!negative && round_up) ++q;
  }
  return y0 + static_cast<int64_t>(q);
}

// A piecewise-linear increasing function given by `samples` (x, y), extended
// along its end segments, slope 1 for a single sample.
int64_t Evaluate(const Samples &samples, int64_t x, bool round_up) {
  CHECK(!samples.empty());
  if (samples.size() == 1) return samples[0].second + (x - samples[0].first);
  auto it =
      std::upper_bound(samples.begin(), samples.end(), x,
                       [](int64_t x, const std::pair<int64_t, int64_t> &p) {
                         return x < p.first;
                       });
  if (it == samples.begin()) ++it;
  if (it == samples.end()) --it;
  return Interpolate((it - 1)->first, (it - 1)->second, it->first, it->second,
                     x, round_up);
}

Samples Swapped(const Samples &samples) {
  Samples out;
  out.reserve(samples.size());
  for (const auto &[x, y] : samples) out.push_back({y, x});
  return out;
}

bool HoldsData(const LogParts &parts) {
  return parts.data_stored.empty() ||
         std::ranges::find(parts.data_stored, StoredDataType::DATA) !=
             parts.data_stored.end();
}
bool Holds(const LogParts &parts, StoredDataType type) {
  return std::ranges::find(parts.data_stored, type) != parts.data_stored.end();
}

LogFile EmptyLike(const LogFile &log) {
  LogFile out = log;
  out.parts.clear();
  return out;
}

Delivery ToDelivery(const LogMessage &m, size_t source) {
  return Delivery{m.channel_index,
                  source,
                  m.monotonic_sent_time,
                  m.realtime_sent_time,
                  m.queue_index,
                  m.monotonic_remote_time,
                  m.realtime_remote_time,
                  m.remote_queue_index,
                  m.monotonic_remote_transmit_time};
}

auto Key(const Delivery &d) {
  return std::make_tuple(d.monotonic_sent_time, d.channel_index, d.queue_index);
}

}  // namespace

Result<MultiNodeLog> AnalyzeMultiNodeLog(const std::vector<LogFile> &logs,
                                         const Configuration *config) {
  const size_t n = configuration::NodesCount(config);
  MultiNodeLog out;
  out.nodes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.nodes[i].name = std::string(configuration::NodeName(config, i));
  }
  std::vector<std::set<std::string>> boots(n);
  // Parts holding deliveries, with the node they were delivered on.
  std::vector<std::pair<LogFile, size_t>> timestamp_files;
  for (const LogFile &log : logs) {
    for (const LogParts &parts : log.parts) {
      const int node = configuration::GetNodeIndex(config, parts.node);
      const int logger = configuration::GetNodeIndex(config, parts.logger_node);
      if (node < 0 || logger < 0) {
        return MakeError("log part " + parts.parts.front() +
                         " is about node '" + parts.node + "' logged on '" +
                         parts.logger_node +
                         "', which the log's configuration does not have");
      }
      // A sequence rotates to a new part when its source node reboots, and
      // SortParts keeps the first part's boot: read every part's.
      for (const std::string &path : parts.parts) {
        Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
        if (!reader) return std::unexpected(reader.error());
        const flatbuffers::String *boot =
            (*reader)->header().source_node_boot_uuid();
        if (boot != nullptr && boot->size() > 0)
          boots[node].insert(boot->str());
      }
      // A log of these parts alone, for reading their records with a
      // LogMessageStream (which skips parts not holding DATA unless they
      // say nothing about what they hold).
      LogFile one = EmptyLike(log);
      one.parts.push_back(parts);
      one.parts.back().data_stored.clear();
      if (HoldsData(parts)) {
        std::optional<LogFile> &file = node == logger
                                           ? out.nodes[node].own_data
                                           : out.nodes[logger].remote_data;
        if (!file.has_value()) file = EmptyLike(log);
        file->parts.push_back(parts);
        if (node == logger &&
            parts.monotonic_start_time != monotonic_clock::min_time &&
            (out.nodes[node].monotonic_start == monotonic_clock::min_time ||
             parts.monotonic_start_time < out.nodes[node].monotonic_start)) {
          out.nodes[node].monotonic_start = parts.monotonic_start_time;
          out.nodes[node].realtime_start = parts.realtime_start_time;
        }
      } else if (Holds(parts, StoredDataType::TIMESTAMPS)) {
        timestamp_files.push_back(
            {std::move(one), static_cast<size_t>(logger)});
      } else if (Holds(parts, StoredDataType::REMOTE_TIMESTAMPS)) {
        timestamp_files.push_back({std::move(one), static_cast<size_t>(node)});
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (boots[i].size() > 1) {
      std::string list;
      for (const std::string &boot : boots[i]) list += " " + boot;
      return MakeError("node '" + out.nodes[i].name +
                       "' rebooted during the log (boots" + list +
                       "); replaying multi-node logs across reboots is not "
                       "implemented yet");
    }
  }

  // (source, receiver) -> (send on source, receive on receiver), ns.
  std::map<std::pair<size_t, size_t>, std::vector<std::pair<int64_t, int64_t>>>
      samples;
  const auto source_of = [&](const LogMessage &m,
                             const std::string &file) -> Result<size_t> {
    const Channel *channel = configuration::GetChannel(config, m.channel_index);
    if (channel == nullptr) {
      return MakeError(file + " has a record on channel index " +
                       std::to_string(m.channel_index) +
                       ", which the log's configuration does not have");
    }
    const int source = configuration::SourceNodeIndex(config, channel);
    if (source < 0) {
      return MakeError(file + " has a forwarded message on " +
                       configuration::StrippedChannelToString(channel) +
                       ", which has no source node");
    }
    return static_cast<size_t>(source);
  };

  // Data forwarded to a node and logged there: deliveries with their data.
  std::vector<
      std::set<std::tuple<monotonic_clock::time_point, uint32_t, uint32_t>>>
      with_data(n);
  for (size_t receiver = 0; receiver < n; ++receiver) {
    if (!out.nodes[receiver].remote_data.has_value()) continue;
    const LogFile &file = *out.nodes[receiver].remote_data;
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(file, "");
    if (!stream) return std::unexpected(stream.error());
    while (std::optional<LogMessage> m = (*stream)->Next()) {
      if (m->monotonic_remote_time == monotonic_clock::min_time) continue;
      Result<size_t> source = source_of(*m, file.parts.front().parts.front());
      if (!source) return std::unexpected(source.error());
      with_data[receiver].insert(
          {m->monotonic_sent_time, m->channel_index, m->queue_index});
      samples[{*source, receiver}].push_back(
          {Nanos(m->monotonic_remote_time), Nanos(m->monotonic_sent_time)});
      (*stream)->Recycle(std::move(*m));
    }
    for (const std::string &w : (*stream)->warnings())
      out.warnings.push_back(w);
  }
  for (const auto &[file, receiver] : timestamp_files) {
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(file, "");
    if (!stream) return std::unexpected(stream.error());
    while (std::optional<LogMessage> m = (*stream)->Next()) {
      Result<size_t> source = source_of(*m, file.parts.front().parts.front());
      if (!source) return std::unexpected(source.error());
      samples[{*source, receiver}].push_back(
          {Nanos(m->monotonic_remote_time), Nanos(m->monotonic_sent_time)});
      Delivery delivery = ToDelivery(*m, *source);
      if (!with_data[receiver].contains(Key(delivery))) {
        out.nodes[receiver].deliveries.push_back(delivery);
      }
      (*stream)->Recycle(std::move(*m));
    }
    for (const std::string &w : (*stream)->warnings())
      out.warnings.push_back(w);
  }
  for (size_t receiver = 0; receiver < n; ++receiver) {
    std::vector<Delivery> &deliveries = out.nodes[receiver].deliveries;
    std::sort(
        deliveries.begin(), deliveries.end(),
        [](const Delivery &a, const Delivery &b) { return Key(a) < Key(b); });
    // Logged on both ends (TIMESTAMPS and REMOTE_TIMESTAMPS): keep one.
    deliveries.erase(std::unique(deliveries.begin(), deliveries.end(),
                                 [](const Delivery &a, const Delivery &b) {
                                   return Key(a) == Key(b);
                                 }),
                     deliveries.end());
    for (const Delivery &d : deliveries) {
      if (out.nodes[d.source_node].own_data.has_value()) continue;
      return MakeError(
          "node '" + out.nodes[d.source_node].name +
          "' has no data parts among the files given, but node '" +
          out.nodes[receiver].name + "' logged deliveries of " +
          configuration::StrippedChannelToString(
              configuration::GetChannel(config, d.channel_index)) +
          " sent there, whose data is in them: node '" +
          out.nodes[d.source_node].name +
          "''s log parts are missing; pass the log files (or folders) of "
          "every node that logged");
    }
  }

  // The clocks: a tree of pair estimates from the reference node.
  out.reference_node = 0;
  for (size_t i = 0; i < n; ++i) {
    if (out.nodes[i].own_data.has_value()) {
      out.reference_node = i;
      break;
    }
  }
  out.clocks.assign(n, {});
  out.clocks[out.reference_node] = {{0, 0}};
  std::vector<size_t> queue = {out.reference_node};
  for (size_t q = 0; q < queue.size(); ++q) {
    const size_t j = queue[q];
    for (size_t i = 0; i < n; ++i) {
      if (!out.clocks[i].empty()) continue;
      auto forward = samples.find({j, i});
      auto reverse = samples.find({i, j});
      if (forward == samples.end() && reverse == samples.end()) continue;
      ClockOffsetEstimator estimator;
      if (forward != samples.end()) {
        for (const auto &[sent, received] : forward->second) {
          estimator.AddAToB(
              monotonic_clock::time_point(std::chrono::nanoseconds(sent)),
              monotonic_clock::time_point(std::chrono::nanoseconds(received)));
        }
      }
      if (reverse != samples.end()) {
        for (const auto &[sent, received] : reverse->second) {
          estimator.AddBToA(
              monotonic_clock::time_point(std::chrono::nanoseconds(sent)),
              monotonic_clock::time_point(std::chrono::nanoseconds(received)));
        }
      }
      ClockEstimate estimate{j, i, estimator.Compute(),
                             estimator.a_to_b_count(),
                             estimator.b_to_a_count()};
      if (estimate.estimate.crossing.count() > 0) {
        out.warnings.push_back(
            "the clocks of nodes '" + out.nodes[j].name + "' and '" +
            out.nodes[i].name +
            "' are not linearly related over the log (the one-way delay "
            "envelopes cross by " +
            std::to_string(estimate.estimate.crossing.count()) +
            " ns; did a drift change?): some forwarded messages may replay "
            "before they were sent");
        LOG(WARNING) << out.warnings.back();
      }
      if (estimate.b_to_a_messages == 0 || estimate.a_to_b_messages == 0) {
        out.warnings.push_back(
            "nodes '" + out.nodes[j].name + "' and '" + out.nodes[i].name +
            "' forwarded messages in one direction only: their clock offset "
            "is bounded from one side only (the fastest message is taken as "
            "instantaneous)");
        LOG(WARNING) << out.warnings.back();
      }
      // i's clock = j's clock + o(j's clock): sampled where either bends.
      const Samples &fj = out.clocks[j];
      std::vector<int64_t> ds;
      for (const auto &[d, m] : fj) ds.push_back(d);
      const Samples fj_inverse = Swapped(fj);
      for (const ClockOffset::Point &p : estimate.estimate.offset.points) {
        ds.push_back(Evaluate(fj_inverse, Nanos(p.a_time), false));
      }
      std::sort(ds.begin(), ds.end());
      ds.erase(std::unique(ds.begin(), ds.end()), ds.end());
      Samples fi;
      for (const int64_t d : ds) {
        const int64_t mj = Evaluate(fj, d, false);
        const int64_t mi = mj + estimate.estimate.offset
                                    .Evaluate(monotonic_clock::time_point(
                                        std::chrono::nanoseconds(mj)))
                                    .count();
        if (!fi.empty() && mi <= fi.back().second) continue;
        fi.push_back({d, mi});
      }
      out.clocks[i] = std::move(fi);
      out.estimates.push_back(std::move(estimate));
      queue.push_back(i);
    }
  }
  // Nodes no forwarded message ties to the reference: line their realtime
  // clocks up with the reference's.
  const NodeLog &reference = out.nodes[out.reference_node];
  for (size_t i = 0; i < n; ++i) {
    if (!out.clocks[i].empty()) continue;
    int64_t offset = 0;
    const NodeLog &node = out.nodes[i];
    if (node.monotonic_start != monotonic_clock::min_time &&
        reference.monotonic_start != monotonic_clock::min_time) {
      offset = (reference.realtime_start.time_since_epoch().count() -
                Nanos(reference.monotonic_start)) -
               (node.realtime_start.time_since_epoch().count() -
                Nanos(node.monotonic_start));
      if (node.own_data.has_value()) {
        out.warnings.push_back("no message was forwarded between node '" +
                               node.name +
                               "' and the others: its clock is "
                               "lined up with theirs by realtime only");
        LOG(WARNING) << out.warnings.back();
      }
    }
    out.clocks[i] = {{0, offset}};
  }
  // Re-time the distributed clock so that no node's clock runs faster than
  // it: between consecutive breakpoints of any clock, distributed time
  // advances as much as the node that advanced most. A node whose clock is
  // faster than the distributed clock skips nanoseconds (no distributed
  // nanosecond maps to them), so a message logged at such a time would be
  // sent a nanosecond late; with every slope <= 1, every node time is hit.
  {
    std::vector<int64_t> ds;
    for (const Samples &clock : out.clocks) {
      for (const auto &[d, m] : clock) ds.push_back(d);
    }
    std::sort(ds.begin(), ds.end());
    ds.erase(std::unique(ds.begin(), ds.end()), ds.end());
    std::vector<Samples> retimed(n);
    std::vector<int64_t> previous(n);
    int64_t distributed = ds.front();
    for (size_t k = 0; k < ds.size(); ++k) {
      std::vector<int64_t> m(n);
      int64_t advance = 0;
      for (size_t i = 0; i < n; ++i) {
        m[i] = Evaluate(out.clocks[i], ds[k], false);
        if (k > 0) advance = std::max(advance, m[i] - previous[i]);
      }
      if (k > 0 && advance <= 0) continue;
      distributed += advance;
      for (size_t i = 0; i < n; ++i) {
        if (k > 0 && m[i] <= previous[i]) continue;
        retimed[i].push_back({distributed, m[i]});
        previous[i] = m[i];
      }
    }
    out.clocks = std::move(retimed);
  }
  // Distributed time 0 is the earliest logger start.
  std::optional<int64_t> first;
  for (size_t i = 0; i < n; ++i) {
    if (out.nodes[i].monotonic_start == monotonic_clock::min_time) continue;
    const int64_t d = Evaluate(Swapped(out.clocks[i]),
                               Nanos(out.nodes[i].monotonic_start), true);
    first = first.has_value() ? std::min(*first, d) : d;
  }
  if (!first.has_value()) {
    return MakeError("no node of log " + logs.front().log_event_uuid +
                     " has a start time in its parts' headers");
  }
  for (Samples &clock : out.clocks) {
    for (auto &[d, m] : clock) d -= *first;
  }
  return out;
}

ReplayClocks::ReplayClocks(std::vector<Samples> clocks)
    : clocks_(std::move(clocks)) {
  for (const Samples &clock : clocks_) {
    CHECK(!clock.empty()) << ": every node needs a clock";
    for (size_t k = 1; k < clock.size(); ++k) {
      CHECK(clock[k].first > clock[k - 1].first &&
            clock[k].second > clock[k - 1].second)
          << ": a replayed clock must increase";
    }
  }
}

monotonic_clock::time_point ReplayClocks::FromDistributedClock(
    size_t node_index, distributed_clock::time_point time, size_t) {
  CHECK_LT(node_index, clocks_.size());
  return monotonic_clock::time_point(std::chrono::nanoseconds(
      Evaluate(clocks_[node_index], time.time_since_epoch().count(), false)));
}

distributed_clock::time_point ReplayClocks::ToDistributedClock(
    size_t node_index, BootTimestamp time) {
  CHECK_LT(node_index, clocks_.size());
  const Samples &clock = clocks_[node_index];
  const int64_t m = Nanos(time.time);
  // The inverse, rounded up (the first distributed nanosecond at which the
  // node's clock has reached `time`).
  int64_t d;
  if (clock.size() == 1) {
    d = clock[0].first + (m - clock[0].second);
  } else {
    auto it =
        std::upper_bound(clock.begin(), clock.end(), m,
                         [](int64_t m, const std::pair<int64_t, int64_t> &p) {
                           return m < p.second;
                         });
    if (it == clock.begin()) ++it;
    if (it == clock.end()) --it;
    d = Interpolate((it - 1)->second, (it - 1)->first, it->second, it->first, m,
                    true);
  }
  return distributed_clock::time_point(std::chrono::nanoseconds(d));
}

Result<std::unique_ptr<DeliveryMatcher>> DeliveryMatcher::Open(
    const LogFile &source_data, std::vector<bool> wanted) {
  Result<std::unique_ptr<LogMessageStream>> stream =
      LogMessageStream::Open(source_data, "");
  if (!stream) return std::unexpected(stream.error());
  std::unique_ptr<DeliveryMatcher> matcher(new DeliveryMatcher());
  matcher->stream_ = std::move(*stream);
  matcher->wanted_ = std::move(wanted);
  return matcher;
}

std::optional<LogMessage> DeliveryMatcher::Find(const Delivery &delivery) {
  std::deque<LogMessage> &pending = pending_[delivery.channel_index];
  const auto key = std::make_pair(delivery.monotonic_remote_time,
                                  delivery.remote_queue_index);
  while (true) {
    // Older messages of the channel were not delivered (lost, or their
    // delivery was not logged).
    while (!pending.empty() &&
           std::make_pair(pending.front().monotonic_sent_time,
                          pending.front().queue_index) < key) {
      stream_->Recycle(std::move(pending.front()));
      pending.pop_front();
    }
    if (!pending.empty()) {
      if (std::make_pair(pending.front().monotonic_sent_time,
                         pending.front().queue_index) != key) {
        return std::nullopt;
      }
      LogMessage found = std::move(pending.front());
      pending.pop_front();
      return found;
    }
    if (done_) return std::nullopt;
    std::optional<LogMessage> next = stream_->Next();
    if (!next.has_value()) {
      done_ = true;
      continue;
    }
    if (next->channel_index < wanted_.size() && wanted_[next->channel_index]) {
      pending_[next->channel_index].push_back(std::move(*next));
    } else {
      stream_->Recycle(std::move(*next));
    }
  }
}

Result<std::unique_ptr<NodeMessageStream>> NodeMessageStream::Open(
    const MultiNodeLog &log, size_t node_index) {
  std::unique_ptr<NodeMessageStream> stream(new NodeMessageStream());
  const NodeLog &node = log.nodes[node_index];
  stream->node_ = &node;
  if (node.own_data.has_value()) {
    Result<std::unique_ptr<LogMessageStream>> own =
        LogMessageStream::Open(*node.own_data, "");
    if (!own) return std::unexpected(own.error());
    stream->own_ = std::move(*own);
    stream->next_own_ = stream->own_->Next();
  }
  if (node.remote_data.has_value()) {
    Result<std::unique_ptr<LogMessageStream>> remote =
        LogMessageStream::Open(*node.remote_data, "");
    if (!remote) return std::unexpected(remote.error());
    stream->remote_ = std::move(*remote);
    stream->next_remote_ = stream->remote_->Next();
  }
  stream->matchers_.resize(log.nodes.size());
  std::vector<std::vector<bool>> wanted(log.nodes.size());
  for (const Delivery &d : node.deliveries) {
    std::vector<bool> &w = wanted[d.source_node];
    if (w.size() <= d.channel_index) w.resize(d.channel_index + 1);
    w[d.channel_index] = true;
  }
  for (size_t source = 0; source < log.nodes.size(); ++source) {
    if (wanted[source].empty()) continue;
    CHECK(log.nodes[source].own_data.has_value())
        << ": AnalyzeMultiNodeLog lets no delivery without its data through";
    Result<std::unique_ptr<DeliveryMatcher>> matcher = DeliveryMatcher::Open(
        *log.nodes[source].own_data, std::move(wanted[source]));
    if (!matcher) return std::unexpected(matcher.error());
    stream->matchers_[source] = std::move(*matcher);
  }
  return stream;
}

std::optional<LogMessage> NodeMessageStream::Next() {
  while (true) {
    using SortKey = std::tuple<monotonic_clock::time_point, uint32_t, uint32_t>;
    static constexpr SortKey kNone{monotonic_clock::max_time,
                                   std::numeric_limits<uint32_t>::max(),
                                   std::numeric_limits<uint32_t>::max()};
    const auto key = [](const std::optional<LogMessage> &m) {
      return m.has_value() ? SortKey{m->monotonic_sent_time, m->channel_index,
                                     m->queue_index}
                           : kNone;
    };
    const SortKey own = key(next_own_);
    const SortKey remote = key(next_remote_);
    const SortKey delivery = next_delivery_ < node_->deliveries.size()
                                 ? Key(node_->deliveries[next_delivery_])
                                 : kNone;
    if (own == kNone && remote == kNone && delivery == kNone) {
      return std::nullopt;
    }
    if (own <= remote && own <= delivery) {
      std::optional<LogMessage> out = std::move(next_own_);
      next_own_ = own_->Next();
      return out;
    }
    if (remote <= delivery) {
      std::optional<LogMessage> out = std::move(next_remote_);
      next_remote_ = remote_->Next();
      return out;
    }
    const Delivery &d = node_->deliveries[next_delivery_++];
    std::optional<LogMessage> found = matchers_[d.source_node]->Find(d);
    if (!found.has_value()) {
      if (missing_data_++ < 10) {
        warnings_.push_back(
            "node '" + node_->name +
            "': no data for the message delivered at " +
            std::to_string(Nanos(d.monotonic_sent_time)) +
            " ns on channel index " + std::to_string(d.channel_index) +
            " (sent at " + std::to_string(Nanos(d.monotonic_remote_time)) +
            " ns on its source, which did not log it); skipped");
        LOG(WARNING) << warnings_.back();
      }
      continue;
    }
    LogMessage out = std::move(*found);
    out.monotonic_sent_time = d.monotonic_sent_time;
    out.realtime_sent_time = d.realtime_sent_time;
    out.queue_index = d.queue_index;
    out.monotonic_remote_time = d.monotonic_remote_time;
    out.realtime_remote_time = d.realtime_remote_time;
    out.remote_queue_index = d.remote_queue_index;
    out.monotonic_remote_transmit_time = d.monotonic_remote_transmit_time;
    return out;
  }
}

void NodeMessageStream::Recycle(LogMessage message) {
  if (own_ != nullptr) own_->Recycle(std::move(message));
}

void NodeMessageStream::AppendWarnings(std::vector<std::string> *out) const {
  if (own_ != nullptr) {
    out->insert(out->end(), own_->warnings().begin(), own_->warnings().end());
  }
  if (remote_ != nullptr) {
    out->insert(out->end(), remote_->warnings().begin(),
                remote_->warnings().end());
  }
  for (const auto &matcher : matchers_) {
    if (matcher == nullptr) continue;
    out->insert(out->end(), matcher->warnings().begin(),
                matcher->warnings().end());
  }
  out->insert(out->end(), warnings_.begin(), warnings_.end());
}

const Channel *FindChannel(const Configuration *config, std::string_view name,
                           std::string_view type) {
  if (config->channels() == nullptr) return nullptr;
  for (const Channel *channel : *config->channels()) {
    if (channel->name()->string_view() == name &&
        channel->type()->string_view() == type) {
      return channel;
    }
  }
  return nullptr;
}

}  // namespace aos::logger::internal
