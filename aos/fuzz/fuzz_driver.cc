// A standalone driver for libFuzzer-style entry points, for compilers without
// libFuzzer (g++). Runs LLVMFuzzerTestOneInput over every file of a seed
// corpus, then over random mutations of them for a bounded number of runs or
// seconds. Build with -DAOS_ASAN=ON so memory errors abort. Before each run
// the input is written to --crash_file, so whatever kills the process can be
// replayed with `fuzzer <crash_file>`. See docs/decisions/fuzzing.md.
//
//   config_fuzzer --seconds=10 aos/fuzz/corpus/config   # fuzz
//   config_fuzzer some_input.json                       # replay one input

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gflags/gflags.h"

DEFINE_double(seconds, 10, "Stop mutating after this many seconds.");
DEFINE_int64(runs, -1, "Stop after this many mutated inputs (-1: no limit).");
DEFINE_uint64(seed, 1, "Random seed; runs with the same seed are identical.");
DEFINE_int32(max_len, 4096, "Longest mutated input, in bytes.");
DEFINE_string(crash_file, "/tmp/aos_fuzz_input",
              "Each input is written here before it runs.");

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

std::string ReadFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Run(const std::string &input) {
  {
    std::ofstream out(FLAGS_crash_file, std::ios::binary | std::ios::trunc);
    out << input;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(input.data()),
                         input.size());
}

// JSON-flavoured mutations: byte edits plus splices of tokens the parsers
// care about, so mutants get past the first character often enough.
std::string Mutate(const std::vector<std::string> &corpus,
                   std::mt19937_64 *rng) {
  static const std::vector<std::string> kTokens = {"{",
                                                   "}",
                                                   "[",
                                                   "]",
                                                   ",",
                                                   ":",
                                                   "\"",
                                                   "\\u",
                                                   "//",
                                                   "/*",
                                                   "*/",
                                                   "nan",
                                                   "-inf",
                                                   "1e999",
                                                   "-0",
                                                   "0x",
                                                   "true",
                                                   "null",
                                                   "\"name\"",
                                                   "\"type\"",
                                                   "\"/a\"",
                                                   "\"PIN\"",
                                                   "\"nodes\"",
                                                   "\"imports\"",
                                                   "\"maps\"",
                                                   "*",
                                                   "\"source_node\"",
                                                   "\"destination_nodes\"",
                                                   "\"num_readers\"",
                                                   "2147483648",
                                                   "-9223372036854775809",
                                                   "\"foo_union_type\"",
                                                   "\xff"};
  std::string input = corpus[(*rng)() % corpus.size()];
  const int edits = 1 + (*rng)() % 4;
  for (int i = 0; i < edits; ++i) {
    const size_t position = input.empty() ? 0 : (*rng)() % (input.size() + 1);
    switch ((*rng)() % 5) {
      case 0:
        if (!input.empty() && position < input.size()) {
          input[position] ^= 1 << ((*rng)() % 8);
        }
        break;
      case 1:
        if (position < input.size()) {
          input.erase(position, 1 + (*rng)() % 8);
        }
        break;
      case 2:
        input.insert(position, 1, static_cast<char>((*rng)() % 256));
        break;
      case 3:
        input.insert(position, kTokens[(*rng)() % kTokens.size()]);
        break;
      case 4: {
        const std::string &other = corpus[(*rng)() % corpus.size()];
        if (other.empty()) break;
        const size_t start = (*rng)() % other.size();
        input.insert(position, other.substr(start, 1 + (*rng)() % 64));
        break;
      }
    }
  }
  if (input.size() > static_cast<size_t>(FLAGS_max_len)) {
    input.resize(FLAGS_max_len);
  }
  return input;
}

}  // namespace

int main(int argc, char **argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    if (std::filesystem::is_directory(path)) {
      for (const auto &entry :
           std::filesystem::recursive_directory_iterator(path)) {
        if (entry.is_regular_file()) corpus.push_back(ReadFile(entry.path()));
      }
    } else {
      corpus.push_back(ReadFile(path));
    }
  }
  for (const std::string &input : corpus) Run(input);
  if (corpus.empty()) corpus.push_back("{ }");

  std::mt19937_64 rng(FLAGS_seed);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(FLAGS_seconds));
  int64_t runs = 0;
  while ((FLAGS_runs < 0 || runs < FLAGS_runs) &&
         std::chrono::steady_clock::now() < deadline) {
    Run(Mutate(corpus, &rng));
    ++runs;
  }
  std::cout << "fuzz: " << corpus.size() << " seeds, " << runs
            << " mutated inputs, no crash\n";
  return 0;
}
