#include "aos/events/logging/multinode_replay.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <set>
#include <tuple>

#include "aos/events/logging/part_reader.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_bool(skip_missing_forwarding_entries, false,
            "Replay multi-node logs whose delivery timestamps name messages "
            "whose data is in none of the files given (the source node's log "
            "is missing), dropping those messages with a warning, instead of "
            "failing.");

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

// When a forwarded message left its source: its transmit time if logged (a
// reliable channel's latest message is sent again when a node (re)connects,
// long after it was sent), else its send time. One-way delays are measured
// from there.
monotonic_clock::time_point SentOnTheWire(const LogMessage &m) {
  return m.monotonic_remote_transmit_time != monotonic_clock::min_time &&
                 m.monotonic_remote_transmit_time >= m.monotonic_remote_time
             ? m.monotonic_remote_transmit_time
             : m.monotonic_remote_time;
}

auto Key(const Delivery &d) {
  return std::make_tuple(d.monotonic_sent_time, d.channel_index, d.queue_index);
}

}  // namespace

std::string NodeLog::Label() const {
  return only_boot ? name : name + " (boot " + std::to_string(boot) + ")";
}

Result<MultiNodeLog> AnalyzeMultiNodeLog(const std::vector<LogFile> &logs,
                                         const Configuration *config) {
  const size_t node_count = configuration::NodesCount(config);
  MultiNodeLog out;
  const std::shared_ptr<const Boots> &boot_order = logs.front().boots;
  CHECK(boot_order != nullptr) << ": LogFile::boots is set by SortParts";
  if (!boot_order->error.empty()) return MakeError(boot_order->error);
  out.node_boots.resize(node_count);
  for (size_t i = 0; i < node_count; ++i) {
    const std::string name(configuration::NodeName(config, i));
    std::vector<std::string> uuids;
    if (auto it = boot_order->boots.find(name); it != boot_order->boots.end()) {
      uuids = it->second;
    }
    if (uuids.empty()) uuids.push_back("");
    for (size_t b = 0; b < uuids.size(); ++b) {
      out.node_boots[i].push_back(out.boots.size());
      NodeLog &boot = out.boots.emplace_back();
      boot.name = name;
      boot.node_index = i;
      boot.boot = b;
      boot.boot_uuid = uuids[b];
      boot.only_boot = uuids.size() == 1;
    }
  }
  const size_t n = out.boots.size();
  // The boot of node `node` named `uuid` ("" if the part names none: the
  // node's only boot).
  const auto boot_of = [&](size_t node, const std::string &uuid,
                           const std::string &file) -> Result<size_t> {
    const std::vector<size_t> &boots = out.node_boots[node];
    if (boots.size() == 1) return boots.front();
    for (const size_t b : boots) {
      if (out.boots[b].boot_uuid == uuid) return b;
    }
    return MakeError(file + " names boot '" + uuid + "' of node '" +
                     out.boots[boots.front()].name +
                     "', which rebooted during the log: the boot is not "
                     "one of the node's boots found in the log's parts");
  };

  // Parts holding deliveries, with the boot they were delivered on and the
  // source boot (REMOTE_TIMESTAMPS: the logger's; TIMESTAMPS: per message,
  // from the part's boot_uuids).
  struct TimestampFile {
    LogFile file;
    size_t receiver;
    std::optional<size_t> source;
  };
  std::vector<TimestampFile> timestamp_files;
  // Data forwarded to a boot and logged there, one LogParts (one source
  // boot) each: (receiver, source, parts).
  std::vector<std::tuple<size_t, size_t, LogFile>> remote_files;
  for (const LogFile &log : logs) {
    for (const LogParts &parts : log.parts) {
      const int node = configuration::GetNodeIndex(config, parts.node);
      const int logger = configuration::GetNodeIndex(config, parts.logger_node);
      const std::string &file = parts.parts.front();
      if (node < 0 || logger < 0) {
        return MakeError("log part " + file + " is about node '" + parts.node +
                         "' logged on '" + parts.logger_node +
                         "', which the log's configuration does not have");
      }
      Result<size_t> node_boot = boot_of(node, parts.source_boot_uuid, file);
      if (!node_boot) return std::unexpected(node_boot.error());
      Result<size_t> logger_boot =
          boot_of(logger, parts.logger_boot_uuid, file);
      if (!logger_boot) return std::unexpected(logger_boot.error());
      // A log of these parts alone, for reading their records with a
      // LogMessageStream (which skips parts not holding DATA unless they
      // say nothing about what they hold).
      LogFile one = EmptyLike(log);
      one.parts.push_back(parts);
      one.parts.back().data_stored.clear();
      if (HoldsData(parts)) {
        NodeLog &owner = out.boots[node == logger ? *node_boot : *logger_boot];
        std::optional<LogFile> &data =
            node == logger ? owner.own_data : owner.remote_data;
        if (!data.has_value()) data = EmptyLike(log);
        data->parts.push_back(parts);
        if (node != logger) {
          remote_files.emplace_back(*logger_boot, *node_boot, std::move(one));
        } else if (parts.monotonic_start_time != monotonic_clock::min_time &&
                   (owner.monotonic_start == monotonic_clock::min_time ||
                    parts.monotonic_start_time < owner.monotonic_start)) {
          owner.monotonic_start = parts.monotonic_start_time;
          owner.realtime_start = parts.realtime_start_time;
          owner.clock_pair_monotonic = parts.monotonic_start_time;
          owner.clock_pair_realtime = parts.realtime_start_time;
        }
      } else if (Holds(parts, StoredDataType::TIMESTAMPS)) {
        timestamp_files.push_back({std::move(one), *logger_boot, std::nullopt});
      } else if (Holds(parts, StoredDataType::REMOTE_TIMESTAMPS)) {
        timestamp_files.push_back({std::move(one), *node_boot, *logger_boot});
      }
    }
  }

  // (source, receiver) boots -> (send on source, receive on receiver), ns.
  std::map<std::pair<size_t, size_t>, std::vector<std::pair<int64_t, int64_t>>>
      samples;
  const auto source_node_of = [&](const LogMessage &m,
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
  // The latest delivery time logged in each boot (for the next boot's
  // start).
  std::vector<int64_t> last_delivery(n, std::numeric_limits<int64_t>::min());

  // Data forwarded to a boot and logged there: deliveries with their data.
  std::vector<
      std::set<std::tuple<monotonic_clock::time_point, uint32_t, uint32_t>>>
      with_data(n);
  for (const auto &[receiver, source, file] : remote_files) {
    NodeLog &source_log = out.boots[source];
    if (!source_log.own_data.has_value()) {
      if (!source_log.copies.has_value()) source_log.copies = EmptyLike(file);
      source_log.copies->parts.push_back(file.parts.front());
    }
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(file, "");
    if (!stream) return std::unexpected(stream.error());
    while (std::optional<LogMessage> m = (*stream)->Next()) {
      if (m->monotonic_remote_time == monotonic_clock::min_time) continue;
      if (source_log.clock_pair_monotonic == monotonic_clock::min_time &&
          m->realtime_remote_time != realtime_clock::min_time) {
        source_log.clock_pair_monotonic = m->monotonic_remote_time;
        source_log.clock_pair_realtime = m->realtime_remote_time;
      }
      with_data[receiver].insert(
          {m->monotonic_sent_time, m->channel_index, m->queue_index});
      samples[{source, receiver}].push_back(
          {Nanos(SentOnTheWire(*m)), Nanos(m->monotonic_sent_time)});
      last_delivery[receiver] =
          std::max(last_delivery[receiver], Nanos(m->monotonic_sent_time));
      (*stream)->Recycle(std::move(*m));
    }
    for (const std::string &w : (*stream)->warnings())
      out.warnings.push_back(w);
  }
  for (const TimestampFile &timestamps : timestamp_files) {
    const std::string &path = timestamps.file.parts.front().parts.front();
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(timestamps.file, "");
    if (!stream) return std::unexpected(stream.error());
    const std::vector<std::string> &header_boots =
        timestamps.file.parts.front().boot_uuids;
    while (std::optional<LogMessage> m = (*stream)->Next()) {
      Result<size_t> source_node = source_node_of(*m, path);
      if (!source_node) return std::unexpected(source_node.error());
      size_t source;
      if (timestamps.source.has_value()) {
        source = *timestamps.source;
      } else {
        Result<size_t> boot = boot_of(*source_node,
                                      *source_node < header_boots.size()
                                          ? header_boots[*source_node]
                                          : std::string(),
                                      path);
        if (!boot) return std::unexpected(boot.error());
        source = *boot;
      }
      const size_t receiver = timestamps.receiver;
      samples[{source, receiver}].push_back(
          {Nanos(SentOnTheWire(*m)), Nanos(m->monotonic_sent_time)});
      last_delivery[receiver] =
          std::max(last_delivery[receiver], Nanos(m->monotonic_sent_time));
      Delivery delivery = ToDelivery(*m, source);
      if (!with_data[receiver].contains(Key(delivery))) {
        out.boots[receiver].deliveries.push_back(delivery);
      }
      (*stream)->Recycle(std::move(*m));
    }
    for (const std::string &w : (*stream)->warnings())
      out.warnings.push_back(w);
  }
  for (size_t receiver = 0; receiver < n; ++receiver) {
    std::vector<Delivery> &deliveries = out.boots[receiver].deliveries;
    std::sort(
        deliveries.begin(), deliveries.end(),
        [](const Delivery &a, const Delivery &b) { return Key(a) < Key(b); });
    // Logged on both ends (TIMESTAMPS and REMOTE_TIMESTAMPS): keep one.
    deliveries.erase(std::unique(deliveries.begin(), deliveries.end(),
                                 [](const Delivery &a, const Delivery &b) {
                                   return Key(a) == Key(b);
                                 }),
                     deliveries.end());
    if (FLAGS_skip_missing_forwarding_entries) {
      const size_t before = deliveries.size();
      std::erase_if(deliveries, [&](const Delivery &d) {
        return !out.boots[d.source].own_data.has_value();
      });
      if (deliveries.size() != before) {
        out.warnings.push_back(
            "node '" + out.boots[receiver].Label() +
            "': " + std::to_string(before - deliveries.size()) +
            " logged deliveries have no data in the files given (their "
            "source's log parts are missing); skipped "
            "(--skip_missing_forwarding_entries)");
        LOG(WARNING) << out.warnings.back();
      }
    }
    for (const Delivery &d : deliveries) {
      if (out.boots[d.source].own_data.has_value()) continue;
      return MakeError(
          "node '" + out.boots[d.source].Label() +
          "' has no data parts among the files given, but node '" +
          out.boots[receiver].Label() + "' logged deliveries of " +
          configuration::StrippedChannelToString(
              configuration::GetChannel(config, d.channel_index)) +
          " sent there, whose data is in them: node '" +
          out.boots[d.source].name +
          "''s log parts are missing; pass the log files (or folders) of "
          "every node that logged, or replay without those messages with "
          "--skip_missing_forwarding_entries");
    }
  }

  // The clocks: a tree of pair estimates from the reference node.
  out.reference = 0;
  for (size_t i = 0; i < n; ++i) {
    if (out.boots[i].own_data.has_value()) {
      out.reference = i;
      break;
    }
  }
  out.clocks.assign(n, {});
  out.clocks[out.reference] = {{0, 0}};
  std::vector<size_t> queue = {out.reference};
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
      ClockEstimate estimate{j,
                             i,
                             out.boots[j].node_index,
                             out.boots[j].boot,
                             out.boots[i].node_index,
                             out.boots[i].boot,
                             estimator.Compute(),
                             estimator.a_to_b_count(),
                             estimator.b_to_a_count()};
      if (estimate.estimate.crossing.count() > 0) {
        out.warnings.push_back(
            "the clocks of nodes '" + out.boots[j].Label() + "' and '" +
            out.boots[i].Label() +
            "' are not linearly related over the log (the one-way delay "
            "envelopes cross by " +
            std::to_string(estimate.estimate.crossing.count()) +
            " ns; did a drift change?): some forwarded messages may replay "
            "before they were sent");
        LOG(WARNING) << out.warnings.back();
      }
      if (estimate.b_to_a_messages == 0 || estimate.a_to_b_messages == 0) {
        out.warnings.push_back(
            "nodes '" + out.boots[j].Label() + "' and '" +
            out.boots[i].Label() +
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
  const NodeLog &reference = out.boots[out.reference];
  for (size_t i = 0; i < n; ++i) {
    if (!out.clocks[i].empty()) continue;
    int64_t offset = 0;
    const NodeLog &node = out.boots[i];
    if (node.monotonic_start != monotonic_clock::min_time &&
        reference.monotonic_start != monotonic_clock::min_time) {
      offset = (reference.realtime_start.time_since_epoch().count() -
                Nanos(reference.monotonic_start)) -
               (node.realtime_start.time_since_epoch().count() -
                Nanos(node.monotonic_start));
      if (node.own_data.has_value()) {
        out.warnings.push_back("no message was forwarded between node '" +
                               node.Label() +
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
    if (out.boots[i].monotonic_start == monotonic_clock::min_time) continue;
    const int64_t d = Evaluate(Swapped(out.clocks[i]),
                               Nanos(out.boots[i].monotonic_start), true);
    first = first.has_value() ? std::min(*first, d) : d;
  }
  if (!first.has_value()) {
    return MakeError("no node of log " + logs.front().log_event_uuid +
                     " has a start time in its parts' headers");
  }
  for (Samples &clock : out.clocks) {
    for (auto &[d, m] : clock) d -= *first;
  }
  // Where each later boot begins: when its clock reads the epoch (as a
  // simulated boot does), but after everything its node logged in the
  // previous boot, which the estimate may put later (see NodeLog).
  for (const std::vector<size_t> &boots : out.node_boots) {
    for (size_t k = 1; k < boots.size(); ++k) {
      const size_t b = boots[k];
      int64_t start = Evaluate(Swapped(out.clocks[b]), 0, true);
      const size_t previous = boots[k - 1];
      std::optional<int64_t> last;
      if (last_delivery[previous] != std::numeric_limits<int64_t>::min()) {
        last = last_delivery[previous];
      }
      if (out.boots[previous].monotonic_start != monotonic_clock::min_time) {
        const int64_t logger_start = Nanos(out.boots[previous].monotonic_start);
        last = last.has_value() ? std::max(*last, logger_start) : logger_start;
      }
      if (last.has_value()) {
        start = std::max(
            start, Evaluate(Swapped(out.clocks[previous]), *last, true) + 1);
      }
      out.boots[b].boot_start =
          distributed_clock::time_point(std::chrono::nanoseconds(start));
    }
  }
  return out;
}

ReplayClocks::ReplayClocks(const MultiNodeLog &log)
    : clocks_(log.clocks), node_boots_(log.node_boots) {
  for (const NodeLog &boot : log.boots) boot_starts_.push_back(boot.boot_start);
  for (const Samples &clock : clocks_) {
    CHECK(!clock.empty()) << ": every boot needs a clock";
    for (size_t k = 1; k < clock.size(); ++k) {
      CHECK(clock[k].first > clock[k - 1].first &&
            clock[k].second > clock[k - 1].second)
          << ": a replayed clock must increase";
    }
  }
}

const Samples &ReplayClocks::Clock(size_t node_index, size_t boot) const {
  CHECK_LT(node_index, node_boots_.size());
  CHECK_LT(boot, node_boots_[node_index].size())
      << ": node " << node_index << " has no boot " << boot << " in the log";
  return clocks_[node_boots_[node_index][boot]];
}

monotonic_clock::time_point ReplayClocks::FromDistributedClock(
    size_t node_index, distributed_clock::time_point time, size_t boot) {
  return monotonic_clock::time_point(std::chrono::nanoseconds(Evaluate(
      Clock(node_index, boot), time.time_since_epoch().count(), false)));
}

distributed_clock::time_point ReplayClocks::ToDistributedClock(
    size_t node_index, BootTimestamp time) {
  const Samples &clock = Clock(node_index, time.boot);
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

distributed_clock::time_point ReplayClocks::BootStartTime(size_t node_index,
                                                          size_t boot) {
  if (boot == 0) return distributed_clock::min_time;
  CHECK_LT(node_index, node_boots_.size());
  if (boot >= node_boots_[node_index].size()) {
    return distributed_clock::max_time;
  }
  return boot_starts_[node_boots_[node_index][boot]];
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
    const MultiNodeLog &log, size_t boot) {
  std::unique_ptr<NodeMessageStream> stream(new NodeMessageStream());
  const NodeLog &node = log.boots[boot];
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
  if (node.copies.has_value()) {
    Result<std::unique_ptr<LogMessageStream>> copies =
        LogMessageStream::Open(*node.copies, "");
    if (!copies) return std::unexpected(copies.error());
    stream->copies_ = std::move(*copies);
    stream->next_copy_ = stream->NextCopy();
  }
  stream->matchers_.resize(log.boots.size());
  std::vector<std::vector<bool>> wanted(log.boots.size());
  for (const Delivery &d : node.deliveries) {
    std::vector<bool> &w = wanted[d.source];
    if (w.size() <= d.channel_index) w.resize(d.channel_index + 1);
    w[d.channel_index] = true;
  }
  for (size_t source = 0; source < log.boots.size(); ++source) {
    if (wanted[source].empty()) continue;
    CHECK(log.boots[source].own_data.has_value())
        << ": AnalyzeMultiNodeLog lets no delivery without its data through";
    Result<std::unique_ptr<DeliveryMatcher>> matcher = DeliveryMatcher::Open(
        *log.boots[source].own_data, std::move(wanted[source]));
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
    const SortKey copy = key(next_copy_);
    const SortKey remote = key(next_remote_);
    const SortKey delivery = next_delivery_ < node_->deliveries.size()
                                 ? Key(node_->deliveries[next_delivery_])
                                 : kNone;
    if (own == kNone && copy == kNone && remote == kNone && delivery == kNone) {
      return std::nullopt;
    }
    if (own <= copy && own <= remote && own <= delivery) {
      std::optional<LogMessage> out = std::move(next_own_);
      next_own_ = own_->Next();
      return out;
    }
    if (copy <= remote && copy <= delivery) {
      std::optional<LogMessage> out = std::move(next_copy_);
      next_copy_ = NextCopy();
      return out;
    }
    if (remote <= delivery) {
      std::optional<LogMessage> out = std::move(next_remote_);
      next_remote_ = remote_->Next();
      return out;
    }
    const Delivery &d = node_->deliveries[next_delivery_++];
    std::optional<LogMessage> found = matchers_[d.source]->Find(d);
    if (!found.has_value()) {
      if (missing_data_++ < 10) {
        warnings_.push_back(
            "node '" + node_->Label() +
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

std::optional<LogMessage> NodeMessageStream::NextCopy() {
  const auto later = [](const LogMessage &a, const LogMessage &b) {
    return std::tie(a.monotonic_sent_time, a.channel_index, a.queue_index) >
           std::tie(b.monotonic_sent_time, b.channel_index, b.queue_index);
  };
  while (true) {
    // Read ahead until the earliest copy held is a window older than the
    // latest read: a copy received later but sent earlier (another
    // channel's or receiver's longer delay) is then in the heap.
    while (!copies_done_ &&
           (copy_heap_.empty() ||
            latest_copy_ <
                copy_heap_.front().monotonic_sent_time + kCopyReorderWindow)) {
      std::optional<LogMessage> m = copies_->Next();
      if (!m.has_value()) {
        copies_done_ = true;
        break;
      }
      if (m->monotonic_remote_time == monotonic_clock::min_time) {
        copies_->Recycle(std::move(*m));
        continue;
      }
      // As it was sent on this node.
      m->monotonic_sent_time = m->monotonic_remote_time;
      m->realtime_sent_time = m->realtime_remote_time;
      m->queue_index = m->remote_queue_index;
      m->monotonic_remote_time = monotonic_clock::min_time;
      m->realtime_remote_time = realtime_clock::min_time;
      m->remote_queue_index = 0xffffffff;
      m->monotonic_remote_transmit_time = monotonic_clock::min_time;
      latest_copy_ = std::max(latest_copy_, m->monotonic_sent_time);
      copy_heap_.push_back(std::move(*m));
      std::push_heap(copy_heap_.begin(), copy_heap_.end(), later);
    }
    if (copy_heap_.empty()) return std::nullopt;
    std::pop_heap(copy_heap_.begin(), copy_heap_.end(), later);
    LogMessage out = std::move(copy_heap_.back());
    copy_heap_.pop_back();
    const std::pair<monotonic_clock::time_point, uint32_t> sent{
        out.monotonic_sent_time, out.queue_index};
    auto [last, first] = last_copy_.try_emplace(out.channel_index, sent);
    if (!first) {
      if (sent == last->second) {
        // The same message, copied by another receiver.
        copies_->Recycle(std::move(out));
        continue;
      }
      if (sent < last->second) {
        if (late_copies_++ < 10) {
          warnings_.push_back(
              "node '" + node_->Label() + "': a copy of its message sent at " +
              std::to_string(Nanos(out.monotonic_sent_time)) +
              " ns on channel index " + std::to_string(out.channel_index) +
              " came more than the reorder window after later ones; "
              "skipped");
          LOG(WARNING) << warnings_.back();
        }
        copies_->Recycle(std::move(out));
        continue;
      }
      last->second = sent;
    }
    return out;
  }
}

void NodeMessageStream::Recycle(LogMessage message) {
  if (own_ != nullptr) {
    own_->Recycle(std::move(message));
  } else if (copies_ != nullptr) {
    copies_->Recycle(std::move(message));
  }
}

void NodeMessageStream::AppendWarnings(std::vector<std::string> *out) const {
  if (own_ != nullptr) {
    out->insert(out->end(), own_->warnings().begin(), own_->warnings().end());
  }
  for (const LogMessageStream *stream : {remote_.get(), copies_.get()}) {
    if (stream == nullptr) continue;
    out->insert(out->end(), stream->warnings().begin(),
                stream->warnings().end());
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
