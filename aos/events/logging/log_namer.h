#ifndef AOS_EVENTS_LOGGING_LOG_NAMER_H_
#define AOS_EVENTS_LOGGING_LOG_NAMER_H_

// LogNamer: where the Logger's part files go, and the open writer of each.
//
// A log is several sequences of part files. Each sequence holds one kind of
// record about one node and rotates into parts .part0, .part1, ... that share
// a parts_uuid. With base name B and separator S ("" if B ends in '/', else
// "_"), the files are (plus ".bfbs" or ".bfbs.zst"):
//
//   single-node configuration:
//     B S data.partN              every logged channel
//   multi-node configuration, logging on node L:
//     B S L_data.partN            data sent on L
//     B S L_timestamps.partN      delivery times of messages forwarded to L
//     B S data/R_data.partN       data forwarded from node R and logged on L
//     B S timestamps/remote_R.partN
//                                 delivery times on R of messages L sent to R
//                                 (came back to L as RemoteMessages)
//     B S <sha256>.bfbs           the configuration, when kept separate
//
// The layout is upstream AOS's. The Logger decides what goes where and builds
// the headers; the namer only names, opens, rotates and closes.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/logging/logger_generated.h"
#include "aos/events/logging/part_writer.h"
#include "aos/util/status.h"
#include "aos/uuid.h"

namespace aos::logger {

// One sequence of part files (see above).
struct PartSequence {
  // The path without ".partN" and extension.
  std::string stem;
  // The node the records are about (0 in single-node configurations).
  size_t node_index = 0;
  StoredDataType data_stored = StoredDataType::DATA;
  UUID parts_uuid = UUID::Zero();
  // The index of the open part (or of the next one, if none is open).
  int parts_index = 0;
  // Boot of node_index that the records of the open part come from.
  UUID source_boot_uuid = UUID::Zero();
  // Every node's boot when the open part was opened (its header's
  // boot_uuids), by node index. A TIMESTAMPS part holds deliveries from one
  // boot of each source only: the Logger opens the next part when a
  // source's boot differs from this (including from unknown), so a reader
  // knows every delivery's source boot from the header.
  std::vector<UUID> boot_uuids;
  // The open part; null before the first record and after a failure.
  std::unique_ptr<PartWriter> writer;
  // Every file of this sequence, in order.
  std::vector<std::string> paths;
};

struct LogNamerOptions {
  Compression compression = Compression::kZstd;
  int zstd_level = 1;
  // See PartWriterOptions::flush_bytes.
  size_t flush_bytes = size_t{1} << 20;
};

class LogNamer {
 public:
  // Names files after `base_name` for a logger on `logger_node` (nullptr in
  // single-node configurations) of `configuration`, which must outlive it.
  LogNamer(std::string base_name, const Configuration *configuration,
           const Node *logger_node, LogNamerOptions options = {});
  LogNamer(const LogNamer &) = delete;
  LogNamer &operator=(const LogNamer &) = delete;

  const std::string &base_name() const { return base_name_; }
  const LogNamerOptions &options() const { return options_; }
  const Node *logger_node() const { return logger_node_; }
  size_t logger_node_index() const { return logger_node_index_; }

  // The sequences (made on first use; pointers stay valid).
  // Data sent on `node_index` (the logger node's own, or forwarded to it).
  PartSequence *DataSequence(size_t node_index);
  // Delivery times of messages forwarded to the logger node.
  PartSequence *TimestampSequence();
  // Delivery times on `node_index` of messages the logger node sent there.
  PartSequence *RemoteTimestampSequence(size_t node_index);
  // Every sequence made so far.
  const std::vector<std::unique_ptr<PartSequence>> &sequences() const {
    return sequences_;
  }

  // Opens the next part of `sequence` (closing the open one, if any) and
  // writes `header` (size-prefixed) as its first record, flushed at once.
  Result<void> OpenPart(PartSequence *sequence,
                        std::span<const uint8_t> header);

  // Writes the configuration file for `config_header` (a size-prefixed
  // LogFileHeader holding only the configuration) and returns its sha256
  // (over the size-prefixed header), which data parts then name.
  Result<std::string> WriteConfiguration(
      std::span<const uint8_t> config_header);

  // Flushes every open part (see PartWriter::Flush).
  Result<void> Flush(bool sync);
  // Closes every open part; the first error is returned, all are closed.
  Result<void> Close();

  // Every file written, in the order they were opened.
  const std::vector<std::string> &all_filenames() const {
    return all_filenames_;
  }
  // Bytes in every file written so far.
  uint64_t total_file_bytes() const;

 private:
  PartSequence *GetSequence(std::string stem, size_t node_index,
                            StoredDataType data_stored);
  std::string Prefix() const;

  const std::string base_name_;
  const Configuration *const configuration_;
  const Node *const logger_node_;
  const size_t logger_node_index_;
  const LogNamerOptions options_;
  std::vector<std::unique_ptr<PartSequence>> sequences_;
  std::vector<std::string> all_filenames_;
  // Bytes of parts already closed.
  uint64_t closed_bytes_ = 0;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_NAMER_H_
