#ifndef AOS_REFLECTION_REFLECTION_GENERATED_H_
#define AOS_REFLECTION_REFLECTION_GENERATED_H_

// Code that flatc generates from schemas including
// "aos/reflection/reflection.fbs" includes this path. The reflection types
// have one C++ definition: the header that cmake/AosConfig.cmake generates
// from reflection.fbs (full object API and mini-reflection), which shadows
// the shipped <flatbuffers/reflection_generated.h>. See reflection.fbs.
#include "flatbuffers/reflection_generated.h"

#endif  // AOS_REFLECTION_REFLECTION_GENERATED_H_
