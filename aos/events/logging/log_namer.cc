#include "aos/events/logging/log_namer.h"

#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/str_cat.h"
#include "glog/logging.h"

namespace aos::logger {

LogNamer::LogNamer(std::string base_name, const Configuration *configuration,
                   const Node *logger_node, LogNamerOptions options)
    : base_name_(std::move(base_name)),
      configuration_(configuration),
      logger_node_(logger_node),
      logger_node_index_(
          logger_node == nullptr
              ? 0
              : configuration::GetNodeIndex(configuration, logger_node)),
      options_(options) {
  CHECK(!base_name_.empty()) << ": a log needs a base name";
  CHECK_EQ(configuration::MultiNode(configuration_), logger_node_ != nullptr)
      << ": a multi-node configuration needs the logger's node, a "
         "single-node one none";
}

std::string LogNamer::Prefix() const {
  return base_name_.back() == '/' ? base_name_ : base_name_ + "_";
}

PartSequence *LogNamer::GetSequence(std::string stem, size_t node_index,
                                    StoredDataType data_stored) {
  for (const std::unique_ptr<PartSequence> &sequence : sequences_) {
    if (sequence->stem == stem) return sequence.get();
  }
  sequences_.push_back(std::make_unique<PartSequence>());
  PartSequence *sequence = sequences_.back().get();
  sequence->stem = std::move(stem);
  sequence->node_index = node_index;
  sequence->data_stored = data_stored;
  sequence->parts_uuid = UUID::Random();
  return sequence;
}

PartSequence *LogNamer::DataSequence(size_t node_index) {
  if (logger_node_ == nullptr) {
    return GetSequence(Prefix() + "data", 0, StoredDataType::DATA);
  }
  const std::string_view node_name =
      configuration::NodeName(configuration_, node_index);
  if (node_index == logger_node_index_) {
    return GetSequence(StrCat(Prefix(), node_name, "_data"), node_index,
                       StoredDataType::DATA);
  }
  return GetSequence(StrCat(Prefix(), "data/", node_name, "_data"), node_index,
                     StoredDataType::DATA);
}

PartSequence *LogNamer::TimestampSequence() {
  CHECK(logger_node_ != nullptr)
      << ": delivery timestamps exist only in multi-node configurations";
  return GetSequence(
      StrCat(Prefix(), logger_node_->name()->string_view(), "_timestamps"),
      logger_node_index_, StoredDataType::TIMESTAMPS);
}

PartSequence *LogNamer::RemoteTimestampSequence(size_t node_index) {
  CHECK(logger_node_ != nullptr)
      << ": delivery timestamps exist only in multi-node configurations";
  return GetSequence(
      StrCat(Prefix(), "timestamps/remote_",
             configuration::NodeName(configuration_, node_index)),
      node_index, StoredDataType::REMOTE_TIMESTAMPS);
}

Result<void> LogNamer::OpenPart(PartSequence *sequence,
                                std::span<const uint8_t> header) {
  if (sequence->writer) {
    Result<void> closed = sequence->writer->Close();
    closed_bytes_ += sequence->writer->file_bytes();
    sequence->writer.reset();
    ++sequence->parts_index;
    if (!closed) return closed;
  }
  const std::string path =
      StrCat(sequence->stem, ".part", sequence->parts_index,
             PartExtension(options_.compression));
  PartWriterOptions writer_options;
  writer_options.compression = options_.compression;
  writer_options.zstd_level = options_.zstd_level;
  writer_options.flush_bytes = options_.flush_bytes;
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(path, writer_options);
  if (!writer) return std::unexpected(writer.error());
  sequence->writer = std::move(*writer);
  sequence->paths.push_back(path);
  all_filenames_.push_back(path);
  if (Result<void> written = sequence->writer->Write(header); !written) {
    return written;
  }
  // The header gets a frame of its own, so that a part is recognizable (and
  // sortable) from the moment it exists, however soon the logger dies.
  return sequence->writer->Flush(/*sync=*/false);
}

Result<std::string> LogNamer::WriteConfiguration(
    std::span<const uint8_t> config_header) {
  const std::string sha256 = Sha256Hex(config_header);
  const std::string path =
      StrCat(Prefix(), sha256, PartExtension(options_.compression));
  PartWriterOptions writer_options;
  writer_options.compression = options_.compression;
  writer_options.zstd_level = options_.zstd_level;
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(path, writer_options);
  if (!writer) return std::unexpected(writer.error());
  all_filenames_.push_back(path);
  if (Result<void> result = (*writer)->Write(config_header); !result) {
    return std::unexpected(result.error());
  }
  Result<void> closed = (*writer)->Close();
  closed_bytes_ += (*writer)->file_bytes();
  if (!closed) return std::unexpected(closed.error());
  return sha256;
}

Result<void> LogNamer::Flush(bool sync) {
  for (const std::unique_ptr<PartSequence> &sequence : sequences_) {
    if (!sequence->writer) continue;
    if (Result<void> result = sequence->writer->Flush(sync); !result) {
      return result;
    }
  }
  return {};
}

Result<void> LogNamer::Close() {
  Result<void> first;
  for (const std::unique_ptr<PartSequence> &sequence : sequences_) {
    if (!sequence->writer) continue;
    Result<void> result = sequence->writer->Close();
    closed_bytes_ += sequence->writer->file_bytes();
    sequence->writer.reset();
    ++sequence->parts_index;
    if (!result && first) first = std::move(result);
  }
  return first;
}

uint64_t LogNamer::total_file_bytes() const {
  uint64_t bytes = closed_bytes_;
  for (const std::unique_ptr<PartSequence> &sequence : sequences_) {
    if (sequence->writer) bytes += sequence->writer->file_bytes();
  }
  return bytes;
}

}  // namespace aos::logger
