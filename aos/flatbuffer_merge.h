#ifndef AOS_FLATBUFFER_MERGE_H_
#define AOS_FLATBUFFER_MERGE_H_

// Merging, copying and comparing flatbuffers of any generated type, with
// upstream AOS's names and semantics, so ported code compiles and behaves the
// same.
//
//   MergeFlatBuffers(a, b)        a with b on top: b's scalars, strings,
//                                 structs and unions win where b has them;
//                                 sub-tables present in both merge
//                                 recursively; vectors present in both
//                                 concatenate (a's elements first). Presence
//                                 is kept exactly: a field set to its default
//                                 stays set.
//   CopyFlatBuffer(t)             copies the bytes t and everything it
//                                 refers to occupy, in one block: fast, and
//                                 shared sub-objects (a DAG) stay shared.
//   RecursiveCopyFlatBuffer(t)    copies field by field, turning a DAG into a
//                                 tree (and dropping unreachable bytes).
//   BlindCopyFlatBuffer(buffer)   copies a whole finished buffer as a block.
//   CompareFlatBuffer(a, b)       whether a and b hold the same fields with
//                                 the same values (presence included),
//                                 whatever their byte layout.
//
// The typed forms find T's schema from its generated code (SchemaOf<T>, see
// aos/json_to_flatbuffer.h). Inputs must be valid flatbuffers (verify
// untrusted bytes first). Null tables are allowed: merging with null copies
// the other side.

#include <cstdint>

#include "aos/flatbuffers.h"
#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/flatbuffers.h"
#include "flatbuffers/reflection.h"

namespace aos {

// Schema-level forms: `object` is the type of the tables (one of `schema`'s
// objects). Each returns an unfinished table in `fbb` (0 if both inputs are
// null).
flatbuffers::Offset<flatbuffers::Table> MergeFlatBuffers(
    const reflection::Schema *schema, const reflection::Object *object,
    const flatbuffers::Table *t1, const flatbuffers::Table *t2,
    flatbuffers::FlatBufferBuilder *fbb);
flatbuffers::Offset<flatbuffers::Table> CopyFlatBuffer(
    const reflection::Schema *schema, const reflection::Object *object,
    const flatbuffers::Table *table, flatbuffers::FlatBufferBuilder *fbb);
flatbuffers::Offset<flatbuffers::Table> RecursiveCopyFlatBuffer(
    const reflection::Schema *schema, const reflection::Object *object,
    const flatbuffers::Table *table, flatbuffers::FlatBufferBuilder *fbb);
bool CompareFlatBuffer(const reflection::Schema *schema,
                       const reflection::Object *object,
                       const flatbuffers::Table *t1,
                       const flatbuffers::Table *t2);

namespace flatbuffer_merge_internal {
template <class T>
const flatbuffers::Table *AsTable(const T *t) {
  return reinterpret_cast<const flatbuffers::Table *>(t);
}
template <class T>
FlatbufferDetachedBuffer<T> Finish(flatbuffers::FlatBufferBuilder *fbb,
                                   flatbuffers::Offset<flatbuffers::Table> o) {
  fbb->Finish(flatbuffers::Offset<T>(o.o));
  return fbb->Release();
}
}  // namespace flatbuffer_merge_internal

template <class T>
flatbuffers::Offset<T> MergeFlatBuffers(const T *fb1, const T *fb2,
                                        flatbuffers::FlatBufferBuilder *fbb) {
  return flatbuffers::Offset<T>(
      MergeFlatBuffers(SchemaOf<T>(), SchemaOf<T>()->root_table(),
                       flatbuffer_merge_internal::AsTable(fb1),
                       flatbuffer_merge_internal::AsTable(fb2), fbb)
          .o);
}

template <class T>
FlatbufferDetachedBuffer<T> MergeFlatBuffers(const T *fb1, const T *fb2) {
  flatbuffers::FlatBufferBuilder fbb;
  return flatbuffer_merge_internal::Finish<T>(
      &fbb, flatbuffers::Offset<flatbuffers::Table>(
                MergeFlatBuffers<T>(fb1, fb2, &fbb).o));
}

// `data1` and `data2` are finished buffers of T (either may be null).
template <class T>
FlatbufferDetachedBuffer<T> MergeFlatBuffers(const uint8_t *data1,
                                             const uint8_t *data2) {
  return MergeFlatBuffers<T>(
      data1 == nullptr ? nullptr : flatbuffers::GetRoot<T>(data1),
      data2 == nullptr ? nullptr : flatbuffers::GetRoot<T>(data2));
}

template <class T>
FlatbufferDetachedBuffer<T> MergeFlatBuffers(
    const flatbuffers::DetachedBuffer &data1,
    const flatbuffers::DetachedBuffer &data2) {
  return MergeFlatBuffers<T>(data1.data(), data2.data());
}

template <class T>
FlatbufferDetachedBuffer<T> MergeFlatBuffers(const Flatbuffer<T> &fb1,
                                             const Flatbuffer<T> &fb2) {
  return MergeFlatBuffers<T>(&fb1.message(), &fb2.message());
}

template <class T>
flatbuffers::Offset<T> MergeFlatBuffers(const Flatbuffer<T> &fb1,
                                        const Flatbuffer<T> &fb2,
                                        flatbuffers::FlatBufferBuilder *fbb) {
  return MergeFlatBuffers<T>(&fb1.message(), &fb2.message(), fbb);
}

template <class T>
flatbuffers::Offset<T> CopyFlatBuffer(const T *t,
                                      flatbuffers::FlatBufferBuilder *fbb) {
  return flatbuffers::Offset<T>(
      CopyFlatBuffer(SchemaOf<T>(), SchemaOf<T>()->root_table(),
                     flatbuffer_merge_internal::AsTable(t), fbb)
          .o);
}

template <class T>
FlatbufferDetachedBuffer<T> CopyFlatBuffer(const T *t) {
  flatbuffers::FlatBufferBuilder fbb;
  return flatbuffer_merge_internal::Finish<T>(
      &fbb,
      flatbuffers::Offset<flatbuffers::Table>(CopyFlatBuffer<T>(t, &fbb).o));
}

template <class T>
FlatbufferDetachedBuffer<T> CopyFlatBuffer(const Flatbuffer<T> &t) {
  return CopyFlatBuffer<T>(&t.message());
}

template <class T>
flatbuffers::Offset<T> RecursiveCopyFlatBuffer(
    const T *t, flatbuffers::FlatBufferBuilder *fbb) {
  return flatbuffers::Offset<T>(
      RecursiveCopyFlatBuffer(SchemaOf<T>(), SchemaOf<T>()->root_table(),
                              flatbuffer_merge_internal::AsTable(t), fbb)
          .o);
}

template <class T>
FlatbufferDetachedBuffer<T> RecursiveCopyFlatBuffer(const T *t) {
  flatbuffers::FlatBufferBuilder fbb;
  return flatbuffer_merge_internal::Finish<T>(
      &fbb, flatbuffers::Offset<flatbuffers::Table>(
                RecursiveCopyFlatBuffer<T>(t, &fbb).o));
}

// Copies the whole finished buffer `t` into `fbb` as one block (8-aligned,
// the root offset at its front left as padding) and returns its root table.
template <class T>
flatbuffers::Offset<T> BlindCopyFlatBuffer(
    const Flatbuffer<T> &t, flatbuffers::FlatBufferBuilder *fbb) {
  const std::span<const uint8_t> bytes = t.span();
  fbb->PreAlign(bytes.size(), alignof(flatbuffers::largest_scalar_t));
  fbb->PushBytes(bytes.data(), bytes.size());
  return flatbuffers::Offset<T>(
      fbb->GetSize() -
      flatbuffers::ReadScalar<flatbuffers::uoffset_t>(bytes.data()));
}

template <class T>
bool CompareFlatBuffer(const T *t1, const T *t2) {
  return CompareFlatBuffer(SchemaOf<T>(), SchemaOf<T>()->root_table(),
                           flatbuffer_merge_internal::AsTable(t1),
                           flatbuffer_merge_internal::AsTable(t2));
}

// Compares the messages (not the bytes): equal buffers laid out differently
// compare equal. An empty holder equals only an empty holder.
template <class T>
bool CompareFlatBuffer(const Flatbuffer<T> &t1, const Flatbuffer<T> &t2) {
  if (t1.span().empty() || t2.span().empty()) {
    return t1.span().empty() && t2.span().empty();
  }
  return CompareFlatBuffer<T>(&t1.message(), &t2.message());
}

}  // namespace aos

#endif  // AOS_FLATBUFFER_MERGE_H_
