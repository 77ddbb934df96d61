#include "aos/events/simulated_channel.h"

namespace aos::simulated_internal {

void MessageRef::Acquire() { ++message_->ref_count; }

void MessageRef::Release() { message_->channel_->Unref(message_); }

const Context &MessageRef::context() const { return message_->context; }

}  // namespace aos::simulated_internal
