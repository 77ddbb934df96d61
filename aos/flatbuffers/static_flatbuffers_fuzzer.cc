// Fuzz entry point: arbitrary bytes as a program of edits (set, grow,
// clear, copy) on a static flatbuffer in a small buffer, so that strings
// and vectors move, the message moves and the buffer runs out. A simple
// model records what each edit that succeeded should have done. After every
// few edits the bytes must verify (alignment checked) and read back, through
// the ordinary generated accessors, exactly as the model says; and
// FromFlatbuffer must copy them to an identical message. See
// docs/decisions/fuzzing.md for the driver.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aos/flatbuffers/builder.h"
#include "aos/flatbuffers/test_generated.h"
#include "aos/flatbuffers/test_static.h"
#include "flatbuffers/minireflect.h"
#include "glog/logging.h"

namespace {

using aos::fbs::testing::Everything;
using aos::fbs::testing::EverythingStatic;
using aos::fbs::testing::LeafStatic;
using aos::fbs::testing::Odd;

// Reads the program's operands; past the end, everything is zero.
class Input {
 public:
  Input(const uint8_t *data, size_t size) : data_(data), size_(size) {}
  bool done() const { return position_ >= size_; }
  uint8_t Byte() { return position_ < size_ ? data_[position_++] : 0; }
  int32_t Int() {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = (value << 8) | Byte();
    return static_cast<int32_t>(value);
  }
  std::string String() {
    const size_t length = Byte() % 40;
    std::string result;
    for (size_t i = 0; i < length; ++i) {
      result += static_cast<char>('a' + Byte() % 26);
    }
    return result;
  }

 private:
  const uint8_t *data_;
  size_t size_;
  size_t position_ = 0;
};

struct LeafModel {
  std::optional<int32_t> value;
  std::optional<std::string> name;
  std::optional<std::vector<double>> samples;
};

struct Model {
  std::optional<int32_t> foo_int;
  std::optional<std::string> foo_string;
  std::optional<std::string> unsized_string;
  std::optional<std::vector<int32_t>> vector_int;
  std::optional<std::vector<int64_t>> vector_long;
  std::optional<std::vector<Odd>> vector_odd;
  std::optional<std::vector<std::string>> vector_string;
  std::optional<std::vector<LeafModel>> vector_leaf;
  std::optional<LeafModel> foo_leaf;
};

void CheckString(const flatbuffers::String *actual,
                 const std::optional<std::string> &expected) {
  CHECK_EQ(actual != nullptr, expected.has_value());
  if (actual != nullptr) CHECK_EQ(actual->str(), *expected);
}

template <typename T, typename U>
void CheckVector(const flatbuffers::Vector<T> *actual,
                 const std::optional<std::vector<U>> &expected) {
  CHECK_EQ(actual != nullptr, expected.has_value());
  if (actual == nullptr) return;
  CHECK_EQ(actual->size(), expected->size());
  for (size_t i = 0; i < actual->size(); ++i) {
    CHECK(actual->Get(i) == (*expected)[i]) << i;
  }
}

void CheckLeaf(const aos::fbs::testing::Leaf *actual,
               const LeafModel &expected) {
  CHECK_EQ(actual->value(), expected.value.value_or(5));
  CheckString(actual->name(), expected.name);
  CheckVector(actual->samples(), expected.samples);
}

void CheckMessage(aos::fbs::Builder<EverythingStatic> *builder,
                  const Model &model) {
  const std::span<uint8_t> buffer = builder->buffer();
  flatbuffers::Verifier verifier(buffer.data(), buffer.size());
  CHECK(verifier.VerifyBuffer<Everything>(nullptr));
  const Everything *message = flatbuffers::GetRoot<Everything>(buffer.data());
  CHECK_EQ(message->foo_int(), model.foo_int.value_or(0));
  CheckString(message->foo_string(), model.foo_string);
  CheckString(message->unsized_string(), model.unsized_string);
  CheckVector(message->vector_int(), model.vector_int);
  CheckVector(message->vector_long(), model.vector_long);
  CHECK_EQ(message->vector_odd() != nullptr, model.vector_odd.has_value());
  if (model.vector_odd.has_value()) {
    CHECK_EQ(message->vector_odd()->size(), model.vector_odd->size());
    for (size_t i = 0; i < model.vector_odd->size(); ++i) {
      CHECK(*message->vector_odd()->Get(i) == (*model.vector_odd)[i]);
    }
  }
  CHECK_EQ(message->vector_string() != nullptr,
           model.vector_string.has_value());
  if (model.vector_string.has_value()) {
    CHECK_EQ(message->vector_string()->size(), model.vector_string->size());
    for (size_t i = 0; i < model.vector_string->size(); ++i) {
      CHECK_EQ(message->vector_string()->Get(i)->str(),
               (*model.vector_string)[i]);
    }
  }
  CHECK_EQ(message->vector_leaf() != nullptr, model.vector_leaf.has_value());
  if (model.vector_leaf.has_value()) {
    CHECK_EQ(message->vector_leaf()->size(), model.vector_leaf->size());
    for (size_t i = 0; i < model.vector_leaf->size(); ++i) {
      CheckLeaf(message->vector_leaf()->Get(i), (*model.vector_leaf)[i]);
    }
  }
  CHECK_EQ(message->foo_leaf() != nullptr, model.foo_leaf.has_value());
  if (model.foo_leaf.has_value())
    CheckLeaf(message->foo_leaf(), *model.foo_leaf);

  // A copy through FromFlatbuffer reads the same.
  alignas(8) static std::array<uint8_t, 16384> copy_buffer;
  aos::fbs::Arena arena(copy_buffer);
  aos::fbs::Builder<EverythingStatic> copy(&arena);
  CHECK(copy->FromFlatbuffer(message));
  const auto *table = aos::fbs::testing::EverythingTypeTable();
  CHECK_EQ(flatbuffers::FlatBufferToString(copy.buffer().data(), table),
           flatbuffers::FlatBufferToString(buffer.data(), table));
}

// Edits one leaf table and its model the same way.
void EditLeaf(Input *input, LeafStatic *leaf, LeafModel *model) {
  switch (input->Byte() % 4) {
    case 0: {
      const int32_t value = input->Int();
      leaf->set_value(value);
      model->value = value;
      break;
    }
    case 1: {
      const std::string value = input->String();
      aos::fbs::String *name = leaf->add_name();
      if (name == nullptr) break;
      if (!model->name.has_value()) model->name.emplace();
      if (name->SetString(value)) model->name = value;
      break;
    }
    case 2: {
      aos::fbs::Vector<double> *samples = leaf->add_samples();
      if (samples == nullptr) break;
      if (!model->samples.has_value()) model->samples.emplace();
      const double value = input->Int();
      if (samples->push_back(value)) model->samples->push_back(value);
      break;
    }
    case 3:
      leaf->clear_samples();
      model->samples.reset();
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Input input(data, size);
  // A buffer between the static size and about 2 KiB more, so that some
  // programs run out of space and others move the message.
  alignas(8) static std::array<uint8_t, 8192> storage;
  const size_t extra = input.Byte() * 8;
  const size_t buffer_size =
      (aos::fbs::Builder<EverythingStatic>::kSize + 7) / 8 * 8 + extra;
  aos::fbs::Arena arena(std::span<uint8_t>(
      storage.data() + storage.size() - buffer_size, buffer_size));
  aos::fbs::Builder<EverythingStatic> builder(&arena);
  Model model;
  int edits = 0;
  while (!input.done()) {
    switch (input.Byte() % 16) {
      case 0: {
        const int32_t value = input.Int();
        builder->set_foo_int(value);
        model.foo_int = value;
        break;
      }
      case 1:
        builder->clear_foo_int();
        model.foo_int.reset();
        break;
      case 2:
      case 3: {
        const bool unsized = input.Byte() % 2 == 0;
        const std::string value = input.String();
        aos::fbs::String *string =
            unsized ? builder->add_unsized_string() : builder->add_foo_string();
        if (string == nullptr) break;
        std::optional<std::string> &expected =
            unsized ? model.unsized_string : model.foo_string;
        if (!expected.has_value()) expected.emplace();
        if (string->SetString(value)) expected = value;
        break;
      }
      case 4:
        builder->clear_foo_string();
        model.foo_string.reset();
        break;
      case 5: {
        aos::fbs::Vector<int32_t> *ints = builder->add_vector_int();
        if (ints == nullptr) break;
        if (!model.vector_int.has_value()) model.vector_int.emplace();
        const int32_t value = input.Int();
        if (value % 3 == 0) {
          const size_t new_size = static_cast<uint32_t>(value) % 64;
          if (ints->resize(new_size)) model.vector_int->resize(new_size);
        } else if (ints->push_back(value)) {
          model.vector_int->push_back(value);
        }
        break;
      }
      case 6: {
        aos::fbs::Vector<int64_t> *longs = builder->add_vector_long();
        if (longs == nullptr) break;
        if (!model.vector_long.has_value()) model.vector_long.emplace();
        const size_t capacity = input.Byte();
        const size_t old_capacity = longs->capacity();
        // reserve() either succeeds or leaves everything as it was.
        if (!longs->reserve(capacity)) {
          CHECK_EQ(longs->capacity(), old_capacity);
        }
        break;
      }
      case 7:
        builder->clear_vector_int();
        model.vector_int.reset();
        break;
      case 8: {
        auto *odds = builder->add_vector_odd();
        if (odds == nullptr) break;
        if (!model.vector_odd.has_value()) model.vector_odd.emplace();
        const Odd odd(input.Byte(), input.Byte(), input.Byte(), input.Byte(),
                      input.Byte());
        if (odds->push_back(odd)) model.vector_odd->push_back(odd);
        break;
      }
      case 9: {
        auto *strings = builder->add_vector_string();
        if (strings == nullptr) break;
        if (!model.vector_string.has_value()) model.vector_string.emplace();
        const std::string value = input.String();
        if (strings->emplace_back(value) != nullptr) {
          model.vector_string->push_back(value);
        }
        break;
      }
      case 10: {
        auto *strings = builder->mutable_vector_string();
        const uint8_t index = input.Byte();
        const std::string value = input.String();
        if (strings == nullptr || strings->empty()) break;
        const size_t i = index % strings->size();
        if (strings->at(i).SetString(value)) (*model.vector_string)[i] = value;
        break;
      }
      case 11: {
        auto *leaves = builder->add_vector_leaf();
        if (leaves == nullptr) break;
        if (!model.vector_leaf.has_value()) model.vector_leaf.emplace();
        if (leaves->emplace_back() != nullptr) {
          model.vector_leaf->emplace_back();
        }
        break;
      }
      case 12: {
        auto *leaves = builder->mutable_vector_leaf();
        const uint8_t index = input.Byte();
        if (leaves == nullptr || leaves->empty()) break;
        const size_t i = index % leaves->size();
        EditLeaf(&input, &leaves->at(i), &(*model.vector_leaf)[i]);
        break;
      }
      case 13:
        if (input.Byte() % 2 == 0) {
          builder->clear_vector_leaf();
          model.vector_leaf.reset();
        } else {
          builder->clear_vector_string();
          model.vector_string.reset();
        }
        break;
      case 14: {
        LeafStatic *leaf = builder->add_foo_leaf();
        if (leaf == nullptr) break;
        if (!model.foo_leaf.has_value()) model.foo_leaf.emplace();
        EditLeaf(&input, leaf, &*model.foo_leaf);
        break;
      }
      case 15:
        builder->clear_foo_leaf();
        model.foo_leaf.reset();
        break;
    }
    if (++edits % 8 == 0) CheckMessage(&builder, model);
  }
  CheckMessage(&builder, model);
  VLOG(1) << edits << " edits, message of " << builder.buffer().size()
          << " bytes in a buffer of " << buffer_size;
  return 0;
}
