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
  stream->max_channel_queue_ =
      log.config == nullptr || log.config->message().channels() == nullptr
          ? 0
          : log.config->message().channels()->size();
  stream->FindLagging();
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
    // A damaged log may name any channel index: those beyond the
    // configuration share the last queue (still in order, see below) rather
    // than making one per index.
    const size_t queue_index =
        std::min<size_t>(header->channel_index(), max_channel_queue_);
    if (queue_index >= sequence->queues.size()) {
      sequence->queues.resize(queue_index + 1);
    }
    std::unique_ptr<Queue> &queue_pointer = sequence->queues[queue_index];
    if (queue_pointer == nullptr) {
      queue_pointer = std::make_unique<Queue>();
      queue_pointer->sequence_index =
          static_cast<uint32_t>(sequence - sequences_.data());
    }
    Queue *queue = queue_pointer.get();
    if (queue->size == queue->ring.size()) {
      // Full: double the ring, unwrapping it.
      std::vector<LogMessage> ring(std::max<size_t>(16, 2 * queue->size));
      for (size_t i = 0; i < queue->size; ++i) {
        ring[i] = std::move(queue->at(i));
      }
      queue->ring = std::move(ring);
      queue->head = 0;
    }
    ++queue->size;
    LogMessage &message = queue->at(queue->size - 1);
    if (message.data.capacity() == 0 && !free_buffers_.empty()) {
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
    // Out of order within its channel (not from our logger, but allowed):
    // move it back to its place.
    size_t position = queue->size - 1;
    while (position > 0 &&
           Later(queue->at(position - 1), 0, queue->at(position), 0)) {
      std::swap(queue->at(position - 1), queue->at(position));
      --position;
    }
    if (queue->heap_index == kNotInHeap) {
      HeapPush(queue);
    } else if (position == 0) {
      SiftUp(queue->heap_index);
    }
    return true;
  }
}

void LogMessageStream::FindLagging() {
  lagging_ = nullptr;
  lagging_bound_ = monotonic_clock::max_time;
  for (Sequence &sequence : sequences_) {
    if (sequence.done) continue;
    const monotonic_clock::time_point bound =
        sequence.last_time == monotonic_clock::min_time
            ? monotonic_clock::min_time
            : sequence.last_time - sequence.max_out_of_order;
    if (lagging_ == nullptr || bound < lagging_bound_) {
      lagging_ = &sequence;
      lagging_bound_ = bound;
    }
  }
}

const LogMessage *LogMessageStream::Peek() {
  while (true) {
    // Unread messages are all at or after lagging_bound_, so anything
    // earlier in the queues is next.
    if (!heap_.empty() &&
        (lagging_ == nullptr ||
         heap_.front()->front().monotonic_sent_time < lagging_bound_)) {
      peeked_ = true;
      return &heap_.front()->front();
    }
    if (lagging_ == nullptr) return nullptr;
    ReadOne(lagging_);
    FindLagging();
  }
}

void LogMessageStream::Pop() {
  CHECK(peeked_) << ": LogMessageStream::Pop without a message from Peek";
  peeked_ = false;
  Queue *queue = heap_.front();
  queue->head = (queue->head + 1) & (queue->ring.size() - 1);
  --queue->size;
  if (queue->size == 0) {
    HeapPopFront();
  } else {
    SiftDown(0);
  }
}

std::optional<LogMessage> LogMessageStream::Next() {
  if (Peek() == nullptr) return std::nullopt;
  LogMessage &slot = heap_.front()->front();
  std::optional<LogMessage> message(std::move(slot));
  // The slot keeps a buffer, so the ring refills it without allocating.
  slot.data.clear();
  if (!free_buffers_.empty()) {
    slot.data = std::move(free_buffers_.back());
    free_buffers_.pop_back();
  }
  Pop();
  return message;
}

void LogMessageStream::Recycle(LogMessage message) {
  if (free_buffers_.size() < 64) {
    free_buffers_.push_back(std::move(message.data));
  }
}

bool LogMessageStream::Later(const LogMessage &a, uint32_t sequence_a,
                             const LogMessage &b, uint32_t sequence_b) {
  if (a.monotonic_sent_time != b.monotonic_sent_time) {
    return a.monotonic_sent_time > b.monotonic_sent_time;
  }
  if (a.channel_index != b.channel_index) {
    return a.channel_index > b.channel_index;
  }
  if (a.queue_index != b.queue_index) return a.queue_index > b.queue_index;
  return sequence_a > sequence_b;
}

bool LogMessageStream::Later(const Queue *a, const Queue *b) {
  return Later(a->front(), a->sequence_index, b->front(), b->sequence_index);
}

void LogMessageStream::SiftUp(size_t index) {
  Queue *queue = heap_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / 2;
    if (!Later(heap_[parent], queue)) break;
    heap_[index] = heap_[parent];
    heap_[index]->heap_index = index;
    index = parent;
  }
  heap_[index] = queue;
  queue->heap_index = index;
}

void LogMessageStream::SiftDown(size_t index) {
  Queue *queue = heap_[index];
  const size_t size = heap_.size();
  while (true) {
    size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && Later(heap_[child], heap_[child + 1])) ++child;
    if (!Later(queue, heap_[child])) break;
    heap_[index] = heap_[child];
    heap_[index]->heap_index = index;
    index = child;
  }
  heap_[index] = queue;
  queue->heap_index = index;
}

void LogMessageStream::HeapPush(Queue *queue) {
  heap_.push_back(queue);
  SiftUp(heap_.size() - 1);
}

void LogMessageStream::HeapPopFront() {
  heap_.front()->heap_index = kNotInHeap;
  Queue *last = heap_.back();
  heap_.pop_back();
  if (heap_.empty() || last == heap_.front()) return;
  heap_.front() = last;
  SiftDown(0);
}

}  // namespace aos::logger
