#ifndef AOS_CHANNEL_DATA_ALIGNMENT_H_
#define AOS_CHANNEL_DATA_ALIGNMENT_H_

// The one alignment rule every transport shares: shared memory (ipc_lib), the
// simulation and the senders' builders all place a message payload so that it
// ends at a multiple of kChannelDataAlignment. Defined here, apart from both,
// so the generic event loop does not depend on ipc_lib to agree with it.

#include <cstddef>

namespace aos {

// Message payloads end at a multiple of this (flatbuffers build from the back,
// so the end is what must be aligned).
inline constexpr size_t kChannelDataAlignment = 128;

}  // namespace aos

#endif  // AOS_CHANNEL_DATA_ALIGNMENT_H_
