#ifndef AOS_CONFIGURATION_H_
#define AOS_CONFIGURATION_H_

// Reading, merging, validating and querying AOS configurations.
//
// A configuration (schema in aos/configuration.fbs) lists the channels that
// processes talk over, renames (maps), the nodes of a multi-node system and
// the applications that run on them. Integrators write it as JSON files that
// import each other; ReadConfig merges them into one flattened, sorted,
// validated Configuration flatbuffer, which is what every API below takes:
//
//   FlatbufferDetachedBuffer<Configuration> config =
//       configuration::ReadConfig("aos_config.json");
//   const Channel *channel = configuration::GetChannel<examples::Ping>(
//       &config.message(), "/test", "ping", configuration::GetMyNode(
//           &config.message()));
//
// Merging rules: imports are resolved relative to the importing file, depth
// first, and merged in order; the importing file is merged last, so it wins.
// Channels are keyed by (name, type): later scalars override, connections
// merge by destination node, logger node lists are unions. Nodes and
// applications are keyed by name. Maps are concatenated (imported ones first).
// The output has channels sorted by (name, type), nodes and applications by
// name (so a node's index is its alphabetical rank).
//
// User input (files, JSON) never aborts here: the Maybe* functions return an
// Error naming the file (and line/column for JSON errors), the channel or node
// involved and how to fix it. API misuse (e.g. a channel pointer from another
// config) CHECK-fails.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/flatbuffers.h"
#include "aos/util/status.h"
#include "flatbuffers/reflection.h"

namespace aos::configuration {

// Where MaybeReadConfig finds the config `path`: the path itself (relative
// to the working directory); then, for a relative path, under each of
// `extra_import_paths` in order and beside the running program, so that a
// program given its default --config finds the config built next to it from
// any working directory. A `.json` path also counts as found where only the
// `.bfbs` of the same stem exists. Returns the first hit, or an error naming
// `path` and every place tried.
Result<std::string> FindConfigFile(
    std::string_view path,
    std::span<const std::string> extra_import_paths = {});

// Reads the config at `path` (looked for as FindConfigFile does) and
// everything it imports, merges and validates it. A `.bfbs` path is a binary
// config that is already flattened: it is only verified and validated. A
// `.json` path with a `.bfbs` of the same stem beside it is read from the
// `.bfbs` (faster, same content). Imports that are not found relative to the
// importing file are looked for in `extra_import_paths`, in order. The same
// file imported twice is an error.
Result<FlatbufferDetachedBuffer<Configuration>> MaybeReadConfig(
    std::string_view path,
    std::span<const std::string> extra_import_paths = {});

// MaybeReadConfig for programs: LOG(FATAL)s with the error's message.
FlatbufferDetachedBuffer<Configuration> ReadConfig(
    std::string_view path,
    std::span<const std::string> extra_import_paths = {});

// Returns `config` plus a channel named `name` whose type is `schema`'s root
// table, with `schema` embedded (shared with other channels of that type) and
// sent from `node` (null for single-node configs). Of `overrides`, only fields
// that differ from their defaults are set (name, type and source_node are
// taken from the arguments). If the channel exists, these fields merge over
// it. The Maybe form returns an error if the result does not validate (bad
// name, unknown node, queue too large, ...) or `schema` has no root table;
// the other CHECK-fails on it.
Result<FlatbufferDetachedBuffer<Configuration>> MaybeAddChannelToConfiguration(
    const Configuration *config, std::string_view name,
    const Flatbuffer<reflection::Schema> &schema, const Node *node = nullptr,
    const ChannelT &overrides = {});
FlatbufferDetachedBuffer<Configuration> AddChannelToConfiguration(
    const Configuration *config, std::string_view name,
    const Flatbuffer<reflection::Schema> &schema, const Node *node = nullptr,
    const ChannelT &overrides = {});

// A copy of `config` with only the channels for which `should_include_channel`
// returns true (in order; schemas stay shared). Everything else (maps, nodes,
// applications, storage duration) is kept.
FlatbufferDetachedBuffer<Configuration> GetPartialConfiguration(
    const Configuration &config,
    const std::function<bool(const Channel &)> &should_include_channel);

// Checks a merged configuration against every rule (channel names, sizes,
// queue sizes, PIN/num_readers, known nodes, logger settings, sort order).
// Returns the first violation, naming the channel or node and the fix.
Result<void> Validate(const Configuration *config);

// Merges `json` (a Configuration in JSON, without imports) on top of `config`
// with the rules above, then sorts and validates the result. The Maybe form
// returns errors; the other CHECK-fails on them (for tests and programs that
// build configs from constants).
Result<FlatbufferDetachedBuffer<Configuration>> MaybeMergeWithConfig(
    const Configuration *config, std::string_view json);
FlatbufferDetachedBuffer<Configuration> MergeWithConfig(
    const Configuration *config, std::string_view json);
// As above, merging a Configuration flatbuffer instead of JSON.
FlatbufferDetachedBuffer<Configuration> MergeWithConfig(
    const Configuration *config, const Flatbuffer<Configuration> &addition);

// Re-merges `config` on its own: sorts channels, nodes and applications,
// collapses duplicates, and (if `schemas` is not empty) embeds for each
// channel the schema whose root table name equals the channel's type. Every
// channel of one type shares one copy of its schema inside the output.
// Channels without a matching schema keep their current one (if any).
// CHECK-fails if the result does not validate.
FlatbufferDetachedBuffer<Configuration> MergeConfiguration(
    const Flatbuffer<Configuration> &config,
    std::span<const FlatbufferVector<reflection::Schema>> schemas = {});
Result<FlatbufferDetachedBuffer<Configuration>> MaybeMergeConfiguration(
    const Flatbuffer<Configuration> &config,
    std::span<const FlatbufferVector<reflection::Schema>> schemas = {});

// Parses `json` as a Configuration and merges `schemas` into it, as
// MergeConfiguration. CHECK-fails on invalid JSON (for tests and tools whose
// JSON is a constant).
FlatbufferDetachedBuffer<Configuration> AddSchema(
    std::string_view json,
    std::span<const FlatbufferVector<reflection::Schema>> schemas);

// Finds the channel that `name` (after maps) and `type` name, as seen by
// application `application_name` on `node` (null in single-node configs).
// Maps apply in this order: the application's maps, then the global maps,
// each list from last to first, so the last matching map wins. Returns null
// if there is no such channel, logging the lookup unless `quiet`. `config`
// must be merged (channels sorted).
const Channel *GetChannel(const Configuration *config, std::string_view name,
                          std::string_view type,
                          std::string_view application_name, const Node *node,
                          bool quiet = false);

// As above, with T's fully qualified flatbuffer name as the type.
template <typename T>
const Channel *GetChannel(const Configuration *config, std::string_view name,
                          std::string_view application_name, const Node *node,
                          bool quiet = false) {
  return GetChannel(config, name, T::GetFullyQualifiedName(), application_name,
                    node, quiet);
}

// Upstream's overloads taking the configuration holder itself.
inline const Channel *GetChannel(const Flatbuffer<Configuration> &config,
                                 std::string_view name, std::string_view type,
                                 std::string_view application_name,
                                 const Node *node, bool quiet = false) {
  return GetChannel(&config.message(), name, type, application_name, node,
                    quiet);
}
template <typename T>
const Channel *GetChannel(const Flatbuffer<Configuration> &config,
                          std::string_view name,
                          std::string_view application_name, const Node *node,
                          bool quiet = false) {
  return GetChannel<T>(&config.message(), name, application_name, node, quiet);
}

// Returns the channel `channel` would be looked up under after applying the
// maps: the name a channel is known by, e.g. for printing.
std::string MappedChannelName(const Configuration *config,
                              std::string_view name, std::string_view type,
                              std::string_view application_name,
                              const Node *node);

// The names under which `channel` is found by GetChannel for application
// `application_name` on `node`: every name that the maps (reversed, including
// `*` wildcards and chains) turn into the channel's name and that GetChannel
// then really resolves to `channel` (a map with a type or node filter only
// yields aliases where it applies). Includes the channel's own name unless a
// map sends that name elsewhere. Sorted. This is what the command-line tools
// print as short names and accept as input. `config` must be merged.
std::set<std::string> GetChannelAliases(const Configuration *config,
                                        const Channel *channel,
                                        std::string_view application_name,
                                        const Node *node);
// As above, for the channel named `name` (a real channel name, not an alias)
// with type `type`; the result is empty if there is no such channel.
std::set<std::string> GetChannelAliases(const Configuration *config,
                                        std::string_view name,
                                        std::string_view type,
                                        std::string_view application_name,
                                        const Node *node);

// The index of `channel` in config->channels(). CHECK-fails if `channel` is
// not a pointer into `config`.
size_t ChannelIndex(const Configuration *config, const Channel *channel);

// The channel at `index`; CHECK-fails if out of range.
const Channel *GetChannel(const Configuration *config, size_t index);

// Whether the config has nodes.
bool MultiNode(const Configuration *config);

// The node named `name`, or null if there is none.
const Node *GetNode(const Configuration *config, std::string_view name);

// The node in `config` with the same name as `node` (which may come from
// another copy of the config). Null `node` gives null (single-node).
const Node *GetNode(const Configuration *config, const Node *node);

// The node at `index` (in merged, name-sorted order). CHECK-fails if out of
// range; null in single-node configs.
const Node *GetNode(const Configuration *config, size_t index);

// The node whose hostname (or one of hostnames) is `hostname`, else the first
// node whose hostname_regex matches all of `hostname`, or null.
const Node *GetNodeFromHostname(const Configuration *config,
                                std::string_view hostname);

// The node this process runs on: looked up by --override_hostname if set,
// else by this machine's hostname. Null in single-node configs. LOG(FATAL)s
// if a multi-node config has no node for the hostname (the message names the
// hostname and suggests --override_hostname).
const Node *GetMyNode(const Configuration *config);

// The index of the node named like `node` in config->nodes(); 0 for a
// single-node config with null node. CHECK-fails if there is no such node.
int GetNodeIndex(const Configuration *config, const Node *node);
int GetNodeIndex(const Configuration *config, std::string_view name);

// All nodes in index order; {nullptr} in a single-node config.
std::vector<const Node *> GetNodes(const Configuration *config);

// Number of nodes (1 in a single-node config).
size_t NodesCount(const Configuration *config);

// The name of node `index`, or "(singlenode)" in a single-node config.
std::string_view NodeName(const Configuration *config, size_t index);

// Whether the node has `tag` (a null node has every tag).
bool NodeHasTag(const Node *node, std::string_view tag);

// The nodes (from GetNodes, in index order) for which NodeHasTag is true: so
// {nullptr} in a single-node config, whatever the tag.
std::vector<const Node *> GetNodesWithTag(const Configuration *config,
                                          std::string_view tag);

// The node in `config` named `name`; CHECK-fails if there is none (a program
// error: the name came from the config or was validated).
const Node *GetNodeOrDie(const Configuration *config, std::string_view name);

// The node in `config` with the name of `node` (which may come from another
// copy of the config, e.g. a log's). Null in a single-node config, where
// `node` must be null too. CHECK-fails, naming the node, if there is none.
const Node *GetNodeOrDie(const Configuration *config, const Node *node);

// Whether `node` points into `config` (not merely has the same name). A null
// node is "from" a single-node config only; a null config holds no node.
bool IsNodeFromConfiguration(const Configuration *config, const Node *node);

// Whether processes on `node` may send on `channel`: it is the source node.
// Always true for a null node (single-node).
bool ChannelIsSendableOnNode(const Channel *channel, const Node *node);

// Whether processes on `node` may read `channel`: it is the source or a
// destination node. Always true for a null node (single-node).
bool ChannelIsReadableOnNode(const Channel *channel, const Node *node);

// The connection forwarding `channel` to `node`, or null if it is not
// forwarded there.
const Connection *ConnectionToNode(const Channel *channel, const Node *node);

// The number of nodes `channel` is forwarded to.
size_t ConnectionCount(const Channel *channel);

// Whether `node` sends `channel` and forwards it to at least one other node.
// False for a null node (single-node configs forward nothing).
bool ChannelIsForwardedFromNode(const Channel *channel, const Node *node);

// The node that sends `channel`, or null in a single-node config.
// CHECK-fails if a multi-node channel has no (known) source node.
const Node *SourceNode(const Configuration *config, const Channel *channel);
// Its index (0 in a single-node config).
int SourceNodeIndex(const Configuration *config, const Channel *channel);
// The source node index of every channel, by channel index (all 0 in a
// single-node config).
std::vector<size_t> SourceNodeIndex(const Configuration *config);

// Whether the delivery times of `connection` (when a message reached
// connection->name()) are logged on `logger_node`: LOCAL_LOGGER logs them on
// the receiving node, REMOTE_LOGGER on timestamp_logger_nodes,
// LOCAL_AND_REMOTE_LOGGER on both, NOT_LOGGED nowhere. A null connection is
// never logged. `logger_node` must not be null (timestamps exist only between
// nodes).
bool ConnectionDeliveryTimeIsLoggedOnNode(const Connection *connection,
                                          const Node *logger_node);
// As above for the connection of `channel` to `node` (false if there is none).
bool ConnectionDeliveryTimeIsLoggedOnNode(const Channel *channel,
                                          const Node *node,
                                          const Node *logger_node);

// The names of the nodes that forward at least one channel to `my_node`,
// sorted and unique. Empty in a single-node config.
std::vector<std::string_view> SourceNodeNames(const Configuration *config,
                                              const Node *my_node);

// The names of the nodes `my_node` forwards at least one channel to, sorted
// and unique. Empty in a single-node config.
std::vector<std::string_view> DestinationNodeNames(const Configuration *config,
                                                   const Node *my_node);

// The nodes (in index order) that receive a channel from `my_node` and whose
// delivery times are logged on `my_node`: the nodes from which `my_node` needs
// the delivery timestamps back. Empty in a single-node config.
std::vector<const Node *> TimestampNodes(const Configuration *config,
                                         const Node *my_node);

// Whether `channel`'s messages are logged on `node` (a null node means a
// single-node config, where LOCAL_LOGGER is logged and NOT_LOGGED is not).
bool ChannelMessageIsLoggedOnNode(const Channel *channel, const Node *node);

// The number of messages a queue must hold: ceil(frequency *
// storage_duration).
size_t QueueSize(size_t frequency, std::chrono::nanoseconds storage_duration);

// QueueSize for `channel` with its frequency and storage duration.
size_t QueueSize(const Configuration *config, const Channel *channel);

// The number of scratch messages of `channel`'s queue: readers + senders.
int QueueScratchBufferSize(const Channel *channel);

// The channel's channel_storage_duration if set, else the config's.
std::chrono::nanoseconds ChannelStorageDuration(const Configuration *config,
                                                const Channel *channel);

// `{ "name": "/x", "type": "T" }`, for error messages.
std::string StrippedChannelToString(const Channel *channel);

// The channel as single-line JSON without its (large) schema.
std::string CleanedChannelToString(const Channel *channel);

// The schema of `type`, from the first channel of that type that has one;
// null if none does.
const reflection::Schema *GetSchema(const Configuration *config,
                                    std::string_view type);

template <typename T>
const reflection::Schema *GetSchema(const Configuration *config) {
  return GetSchema(config, T::GetFullyQualifiedName());
}

// The schema of `type` copied into its own buffer (which outlives `config`);
// nullopt if no channel of that type has one.
std::optional<FlatbufferDetachedBuffer<reflection::Schema>>
GetSchemaDetachedBuffer(const Configuration *config, std::string_view type);

// The application `name` if it runs on `node` (any node when `node` is null
// or the application lists no nodes); else null.
const Application *GetApplication(const Configuration *config, const Node *node,
                                  std::string_view name);

// Whether `application` is to be started on `node`: it lists no nodes, or
// lists `node`. Always true for a null node (single-node configs).
bool ApplicationShouldStart(const Configuration *config, const Node *node,
                            const Application *application);

}  // namespace aos::configuration

#endif  // AOS_CONFIGURATION_H_
