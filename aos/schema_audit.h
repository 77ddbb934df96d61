#ifndef AOS_SCHEMA_AUDIT_H_
#define AOS_SCHEMA_AUDIT_H_

// Checks that a compiled schema (.bfbs) still has upstream AOS's wire format.
//
// Logs, configs and tools interoperate with upstream AOS only if the schemas
// we share with it keep upstream's field names, ids, types and defaults, and
// its enum values. A schema audit table lists those, one declaration per
// block, in the form DescribeSchemaDeclaration() prints:
//
//   # comment
//   table aos.timing.Sender
//     channel_index 0 int = -1
//     count 1 uint = 0
//     size 2 aos.timing.Statistic
//     channel 3 aos.Channel
//     error_counts 4 [aos.timing.SendErrorCount]
//   enum aos.timing.SendError byte MESSAGE_SENT_TOO_FAST=0 INVALID_REDZONE=1
//
// A field line that starts with `+` is one of our own additions, at an id
// upstream never used (e.g. `+ lost_messages 5 uint = 0`): it is checked like
// the others, and says plainly that upstream does not have it.
//
// AuditSchema() compares each listed table, struct and enum with the one in
// the compiled schema and returns every difference (a field missing, moved to
// another id, retyped, with another default, or a field upstream does not
// have), so a test can fail with the whole list. The tables live in
// aos/upstream_schemas/; `aos_schema_audit --print foo.bfbs Name...` prints
// the block of a declaration, to write a new table from upstream's schema.

#include <string>
#include <string_view>
#include <vector>

#include "aos/util/status.h"
#include "flatbuffers/reflection.h"

namespace aos {

// Returns the block describing the table, struct or enum named `name`
// (fully qualified) in `schema`, in the audit table syntax above, or an
// error if the schema declares no such thing.
Result<std::string> DescribeSchemaDeclaration(const reflection::Schema &schema,
                                              std::string_view name);

// Compares `schema` with the audit table `expected` (text in the syntax
// above). Returns one line per difference, naming the declaration and field;
// empty if the schema matches. A malformed table is an error naming its line.
Result<std::vector<std::string>> AuditSchema(const reflection::Schema &schema,
                                             std::string_view expected);

}  // namespace aos

#endif  // AOS_SCHEMA_AUDIT_H_
