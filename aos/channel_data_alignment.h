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

// Bytes of guard pattern before and after every shared-memory payload,
// checked on Send ("Somebody wrote outside the buffer of their message").
// Here, in namespace aos, because upstream code (its own shm tests among
// them) names it aos::kChannelDataRedzone with only shm_event_loop.h
// included; ipc_lib finds it unqualified.
inline constexpr size_t kChannelDataRedzone = 32;

}  // namespace aos

#endif  // AOS_CHANNEL_DATA_ALIGNMENT_H_
