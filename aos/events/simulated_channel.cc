#include "aos/events/simulated_channel.h"

namespace aos::simulated_internal {

MessageRef::MessageRef(SimulatedMessage *message) : message_(message) {
  if (message_ != nullptr) ++message_->ref_count;
}

MessageRef::~MessageRef() {
  if (message_ != nullptr) message_->channel_->Unref(message_);
}

const Context &MessageRef::context() const { return message_->context; }

}  // namespace aos::simulated_internal
