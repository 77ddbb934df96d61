#include "aos/flatbuffer_merge.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "glog/logging.h"

namespace aos {
namespace {

using flatbuffers::Offset;
using flatbuffers::Table;
using flatbuffers::uoffset_t;

const uint8_t *Follow(const uint8_t *offset) {
  return offset + flatbuffers::ReadScalar<uoffset_t>(offset);
}

const reflection::Object *ObjectAt(const reflection::Schema *schema,
                                   int32_t index) {
  return schema->objects()->Get(index);
}

// The table member of a union value with type `member`, or null (NONE, or a
// member this schema does not know).
const reflection::Object *UnionMember(const reflection::Schema *schema,
                                      const reflection::Type *type,
                                      int64_t member) {
  const reflection::EnumVal *value =
      schema->enums()->Get(type->index())->values()->LookupByKey(member);
  if (value == nullptr || value->union_type() == nullptr ||
      value->union_type()->base_type() != reflection::Obj) {
    return nullptr;
  }
  return ObjectAt(schema, value->union_type()->index());
}

// The `<name>_type` field that goes with a union (or vector of unions).
const reflection::Field *UnionTypeField(const reflection::Object *object,
                                        const reflection::Field *field) {
  const std::string name = field->name()->str() + "_type";
  return object->fields()->LookupByKey(name.c_str());
}

// Size and alignment of one element of a vector or of an inline field.
struct Layout {
  size_t size;
  size_t align;
};

Layout InlineLayout(const reflection::Schema *schema,
                    reflection::BaseType base_type, int32_t index) {
  if (base_type == reflection::Obj) {
    const reflection::Object *object = ObjectAt(schema, index);
    CHECK(object->is_struct());
    return {static_cast<size_t>(object->bytesize()),
            static_cast<size_t>(object->minalign())};
  }
  const size_t size = flatbuffers::GetTypeSize(base_type);
  return {size, size};
}

bool IsInline(const reflection::Schema *schema, const reflection::Type *type) {
  const reflection::BaseType base = type->base_type();
  if (base == reflection::Obj)
    return ObjectAt(schema, type->index())->is_struct();
  return base != reflection::String && base != reflection::Vector &&
         base != reflection::Union;
}

// Builds tables field by field. `Merge` and `Copy` share the vector and
// union handling; a copy is a merge with nothing.
class Merger {
 public:
  Merger(const reflection::Schema *schema, flatbuffers::FlatBufferBuilder *fbb)
      : schema_(schema), fbb_(fbb) {}

  Offset<Table> Merge(const reflection::Object *object, const Table *t1,
                      const Table *t2) {
    if (t1 == nullptr && t2 == nullptr) return 0;
    // Children first: a table's offsets must point at finished objects.
    std::vector<std::pair<flatbuffers::voffset_t, uoffset_t>> offsets;
    std::vector<std::pair<const reflection::Field *, const uint8_t *>> inlines;
    for (const reflection::Field *field : *object->fields()) {
      const flatbuffers::voffset_t slot = field->offset();
      const uint8_t *a = t1 != nullptr ? t1->GetAddressOf(slot) : nullptr;
      const uint8_t *b = t2 != nullptr ? t2->GetAddressOf(slot) : nullptr;
      if (a == nullptr && b == nullptr) continue;
      const reflection::Type *type = field->type();
      if (IsInline(schema_, type)) {
        // A union's type goes with its value (below), not on its own.
        inlines.emplace_back(field, b != nullptr ? b : a);
        continue;
      }
      uoffset_t child = 0;
      switch (type->base_type()) {
        case reflection::String: {
          const auto *s =
              reinterpret_cast<const flatbuffers::String *>(Follow(b ? b : a));
          child = fbb_->CreateString(s->c_str(), s->size()).o;
          break;
        }
        case reflection::Obj:
          child =
              Merge(ObjectAt(schema_, type->index()),
                    a ? reinterpret_cast<const Table *>(Follow(a)) : nullptr,
                    b ? reinterpret_cast<const Table *>(Follow(b)) : nullptr)
                  .o;
          break;
        case reflection::Union: {
          // The side whose value we take also gives the type (kept with the
          // inline fields, which take b's type whenever b has one).
          const Table *owner = b != nullptr ? t2 : t1;
          const reflection::Field *type_field = UnionTypeField(object, field);
          const int64_t member =
              type_field != nullptr
                  ? flatbuffers::GetFieldI<uint8_t>(*owner, *type_field)
                  : 0;
          const reflection::Object *member_object =
              UnionMember(schema_, type, member);
          if (member_object == nullptr) continue;
          child = Copy(member_object,
                       reinterpret_cast<const Table *>(Follow(b ? b : a)))
                      .o;
          break;
        }
        case reflection::Vector:
          child = Vector(object, field, t1, a ? Follow(a) : nullptr, t2,
                         b ? Follow(b) : nullptr);
          break;
        default:
          LOG(FATAL) << "unexpected field type " << type->base_type();
      }
      offsets.emplace_back(slot, child);
    }
    const uoffset_t start = fbb_->StartTable();
    // Largest first, as flatc's builders do, to waste no padding.
    std::stable_sort(inlines.begin(), inlines.end(),
                     [&](const auto &x, const auto &y) {
                       return Size(x.first) > Size(y.first);
                     });
    for (const auto &[field, data] : inlines) {
      const Layout layout = InlineLayout(schema_, field->type()->base_type(),
                                         field->type()->index());
      fbb_->Align(layout.align);
      fbb_->PushBytes(data, layout.size);
      fbb_->TrackField(field->offset(), fbb_->GetSize());
    }
    for (const auto &[slot, child] : offsets) {
      fbb_->AddOffset(slot, Offset<void>(child));
    }
    return fbb_->EndTable(start);
  }

  Offset<Table> Copy(const reflection::Object *object, const Table *table) {
    return Merge(object, table, nullptr);
  }

 private:
  size_t Size(const reflection::Field *field) const {
    return InlineLayout(schema_, field->type()->base_type(),
                        field->type()->index())
        .size;
  }

  // The two vectors `v1` and `v2` (either may be null) concatenated.
  uoffset_t Vector(const reflection::Object *object,
                   const reflection::Field *field, const Table *t1,
                   const uint8_t *v1, const Table *t2, const uint8_t *v2) {
    const reflection::Type *type = field->type();
    const uoffset_t n1 = v1 ? flatbuffers::ReadScalar<uoffset_t>(v1) : 0;
    const uoffset_t n2 = v2 ? flatbuffers::ReadScalar<uoffset_t>(v2) : 0;
    const uint8_t *e1 = v1 ? v1 + sizeof(uoffset_t) : nullptr;
    const uint8_t *e2 = v2 ? v2 + sizeof(uoffset_t) : nullptr;
    const reflection::BaseType element = type->element();
    const bool inline_elements =
        element != reflection::String && element != reflection::Union &&
        (element != reflection::Obj ||
         ObjectAt(schema_, type->index())->is_struct());
    if (inline_elements) {
      const Layout layout = InlineLayout(schema_, element, type->index());
      const size_t bytes = (n1 + n2) * layout.size;
      fbb_->StartVector(bytes / layout.align, layout.align);
      // The builder grows down: the second vector's bytes go in first.
      if (n2 != 0) fbb_->PushBytes(e2, n2 * layout.size);
      if (n1 != 0) fbb_->PushBytes(e1, n1 * layout.size);
      return fbb_->EndVector(n1 + n2);
    }
    std::vector<Offset<void>> children;
    children.reserve(n1 + n2);
    auto add = [&](const Table *table, const uint8_t *elements, uoffset_t n) {
      const flatbuffers::Vector<uint8_t> *types = nullptr;
      if (element == reflection::Union) {
        const reflection::Field *type_field = UnionTypeField(object, field);
        if (type_field != nullptr) {
          types = table->GetPointer<const flatbuffers::Vector<uint8_t> *>(
              type_field->offset());
        }
      }
      for (uoffset_t i = 0; i < n; ++i) {
        const uint8_t *child = Follow(elements + i * sizeof(uoffset_t));
        if (element == reflection::String) {
          const auto *s = reinterpret_cast<const flatbuffers::String *>(child);
          children.push_back(fbb_->CreateString(s->c_str(), s->size()).Union());
        } else if (element == reflection::Obj) {
          children.push_back(
              Offset<void>(Copy(ObjectAt(schema_, type->index()),
                                reinterpret_cast<const Table *>(child))
                               .o));
        } else {
          const reflection::Object *member =
              types != nullptr && i < types->size()
                  ? UnionMember(schema_, type, types->Get(i))
                  : nullptr;
          CHECK(member != nullptr)
              << ": vector of unions " << field->name()->string_view()
              << " holds a member of unknown type at " << i;
          children.push_back(Offset<void>(
              Copy(member, reinterpret_cast<const Table *>(child)).o));
        }
      }
    };
    if (n1 != 0) add(t1, e1, n1);
    if (n2 != 0) add(t2, e2, n2);
    return fbb_->CreateVector(children).o;
  }

  const reflection::Schema *schema_;
  flatbuffers::FlatBufferBuilder *fbb_;
};

// The smallest block of memory holding a table and everything it refers to.
class Extent {
 public:
  explicit Extent(const reflection::Schema *schema) : schema_(schema) {}

  void Table(const reflection::Object *object, const uint8_t *table) {
    if (!visited_.insert(table).second) return;
    const auto *view = reinterpret_cast<const flatbuffers::Table *>(table);
    const uint8_t *vtable = view->GetVTable();
    Add(vtable, flatbuffers::ReadScalar<flatbuffers::voffset_t>(vtable));
    Add(table, flatbuffers::ReadScalar<flatbuffers::voffset_t>(vtable + 2));
    for (const reflection::Field *field : *object->fields()) {
      const uint8_t *data = view->GetAddressOf(field->offset());
      if (data == nullptr) continue;
      const reflection::Type *type = field->type();
      switch (type->base_type()) {
        case reflection::String: {
          const uint8_t *s = Follow(data);
          Add(s, sizeof(uoffset_t) + flatbuffers::ReadScalar<uoffset_t>(s) + 1);
          break;
        }
        case reflection::Obj:
          if (!ObjectAt(schema_, type->index())->is_struct()) {
            Table(ObjectAt(schema_, type->index()), Follow(data));
          }
          break;
        case reflection::Union: {
          const reflection::Field *type_field = UnionTypeField(object, field);
          if (type_field == nullptr) break;
          const reflection::Object *member =
              UnionMember(schema_, type,
                          flatbuffers::GetFieldI<uint8_t>(*view, *type_field));
          if (member != nullptr && !member->is_struct()) {
            Table(member, Follow(data));
          }
          break;
        }
        case reflection::Vector:
          Vector(object, field, view, Follow(data));
          break;
        default:
          break;
      }
    }
  }

  const uint8_t *begin() const { return begin_; }
  const uint8_t *end() const { return end_; }

 private:
  void Add(const uint8_t *start, size_t size) {
    if (begin_ == nullptr || start < begin_) begin_ = start;
    if (end_ == nullptr || start + size > end_) end_ = start + size;
  }

  void Vector(const reflection::Object *object, const reflection::Field *field,
              const flatbuffers::Table *table, const uint8_t *vector) {
    const reflection::Type *type = field->type();
    const uoffset_t n = flatbuffers::ReadScalar<uoffset_t>(vector);
    const uint8_t *elements = vector + sizeof(uoffset_t);
    const reflection::BaseType element = type->element();
    if (element == reflection::String) {
      Add(vector, sizeof(uoffset_t) * (n + 1));
      for (uoffset_t i = 0; i < n; ++i) {
        const uint8_t *s = Follow(elements + i * sizeof(uoffset_t));
        Add(s, sizeof(uoffset_t) + flatbuffers::ReadScalar<uoffset_t>(s) + 1);
      }
    } else if (element == reflection::Union ||
               (element == reflection::Obj &&
                !ObjectAt(schema_, type->index())->is_struct())) {
      Add(vector, sizeof(uoffset_t) * (n + 1));
      const flatbuffers::Vector<uint8_t> *types = nullptr;
      if (element == reflection::Union) {
        const reflection::Field *type_field = UnionTypeField(object, field);
        if (type_field == nullptr) return;
        types = table->GetPointer<const flatbuffers::Vector<uint8_t> *>(
            type_field->offset());
        if (types == nullptr) return;
      }
      for (uoffset_t i = 0; i < n; ++i) {
        const reflection::Object *child =
            element == reflection::Obj
                ? ObjectAt(schema_, type->index())
                : (i < types->size() ? UnionMember(schema_, type, types->Get(i))
                                     : nullptr);
        if (child != nullptr && !child->is_struct()) {
          Table(child, Follow(elements + i * sizeof(uoffset_t)));
        }
      }
    } else {
      Add(vector, sizeof(uoffset_t) +
                      n * InlineLayout(schema_, element, type->index()).size);
    }
  }

  const reflection::Schema *schema_;
  std::set<const uint8_t *> visited_;
  const uint8_t *begin_ = nullptr;
  const uint8_t *end_ = nullptr;
};

}  // namespace

Offset<Table> MergeFlatBuffers(const reflection::Schema *schema,
                               const reflection::Object *object,
                               const Table *t1, const Table *t2,
                               flatbuffers::FlatBufferBuilder *fbb) {
  return Merger(schema, fbb).Merge(object, t1, t2);
}

Offset<Table> RecursiveCopyFlatBuffer(const reflection::Schema *schema,
                                      const reflection::Object *object,
                                      const Table *table,
                                      flatbuffers::FlatBufferBuilder *fbb) {
  return Merger(schema, fbb).Copy(object, table);
}

Offset<Table> CopyFlatBuffer(const reflection::Schema *schema,
                             const reflection::Object *object,
                             const Table *table,
                             flatbuffers::FlatBufferBuilder *fbb) {
  if (table == nullptr) return 0;
  Extent extent(schema);
  extent.Table(object, reinterpret_cast<const uint8_t *>(table));
  // Offsets inside the block are relative, so it can move as a whole, as
  // long as every object in it keeps its alignment: start and end the block
  // on 8-byte boundaries of the source's addresses (a finished buffer is
  // aligned to its largest scalar) and place it 8-aligned in `fbb`.
  constexpr uintptr_t kAlign = alignof(flatbuffers::largest_scalar_t);
  const uintptr_t begin =
      reinterpret_cast<uintptr_t>(extent.begin()) & ~(kAlign - 1);
  // The end is padded with zeros rather than read up to the boundary: the
  // source buffer may end before it.
  const size_t data_size = reinterpret_cast<uintptr_t>(extent.end()) - begin;
  const size_t size = (data_size + kAlign - 1) & ~(kAlign - 1);
  fbb->PreAlign(size, kAlign);
  fbb->Pad(size - data_size);
  fbb->PushBytes(reinterpret_cast<const uint8_t *>(begin), data_size);
  return Offset<Table>(fbb->GetSize() -
                       (reinterpret_cast<uintptr_t>(table) - begin));
}

bool CompareFlatBuffer(const reflection::Schema *schema,
                       const reflection::Object *object, const Table *t1,
                       const Table *t2) {
  if (t1 == nullptr || t2 == nullptr) return t1 == t2;
  // A field-by-field copy is deterministic: equal messages copy to equal
  // bytes, whatever their layout was.
  flatbuffers::FlatBufferBuilder fbb1;
  flatbuffers::FlatBufferBuilder fbb2;
  fbb1.Finish(RecursiveCopyFlatBuffer(schema, object, t1, &fbb1));
  fbb2.Finish(RecursiveCopyFlatBuffer(schema, object, t2, &fbb2));
  return fbb1.GetSize() == fbb2.GetSize() &&
         std::memcmp(fbb1.GetBufferPointer(), fbb2.GetBufferPointer(),
                     fbb1.GetSize()) == 0;
}

}  // namespace aos
