// Expanding --data into files, and the summary of many HDF5 files (see data_files.h).
#include "cli/data_files.h"

#include <glob.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "cli/args.h"
#include "cli/data_source.h"
#include "cli/hdf5_layout.h"
#include "formats/hdf5_writer.h"

namespace stoker::cli {
namespace fs = std::filesystem;
namespace {

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> read_list(const std::string& list, const std::string& flag) {
  std::ifstream in(list);
  if (!in) throw UsageError(flag + ": cannot read the list file " + list);
  const fs::path base = fs::path(list).parent_path();
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    fs::path p(line.substr(start));
    out.push_back(p.is_absolute() || base.empty() ? p.string() : (base / p).string());
  }
  if (out.empty()) throw UsageError(flag + ": the list file " + list + " names no files");
  return out;
}

}  // namespace

bool names_many_paths(const std::string& arg) {
  std::error_code ec;
  if (fs::exists(arg, ec)) return false;
  return (!arg.empty() && arg[0] == '@') || has_glob_chars(arg) || arg.find(',') != std::string::npos;
}

std::vector<std::string> expand_data_paths(const std::string& arg, const std::string& flag) {
  if (!names_many_paths(arg)) return {arg};
  if (arg[0] == '@') return read_list(arg.substr(1), flag);
  if (has_glob_chars(arg)) {
    glob_t g{};
    const int rc = ::glob(arg.c_str(), GLOB_ERR, nullptr, &g);
    std::vector<std::string> out;
    if (rc == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);  // sorted by glob()
    }
    globfree(&g);
    if (out.empty()) throw UsageError(flag + ": no file matches '" + arg + "'");
    return out;
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = arg.find(',', start);
    std::string part = arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) throw UsageError(flag + ": '" + arg + "' names no path");
  return out;
}

int print_hdf5_files_summary(const std::vector<std::string>& paths) {
  struct Seen {
    std::string dtype;
    std::vector<std::int64_t> row_shape;  // dims after the first
    std::int64_t rows = 0;
    int files = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> disagree;  // files whose dtype or row shape differs from the first's
  };
  std::map<std::string, Seen> by_name;
  std::vector<std::pair<std::string, std::string>> bad;
  std::optional<Hdf5FileInfo> first;
  for (const std::string& p : paths) {
    Hdf5FileInfo info;
    try {
      info = hdf5_describe(p);
      if (info.datasets.empty()) throw std::runtime_error("no datasets (an empty or corrupt HDF5 file?)");
    } catch (const std::exception& e) {
      bad.emplace_back(p, e.what());
      continue;
    }
    for (const Hdf5DatasetInfo& d : info.datasets) {
      Seen& s = by_name[d.name];
      std::vector<std::int64_t> row(d.shape.begin() + (d.shape.empty() ? 0 : 1), d.shape.end());
      if (s.files == 0) {
        s.dtype = d.dtype;
        s.row_shape = row;
      } else if (s.dtype != d.dtype || s.row_shape != row) {
        s.disagree.push_back(p + " (" + d.dtype + " " + dims_text(d.shape) + ")");
      }
      ++s.files;
      s.rows += d.shape.empty() ? 0 : d.shape[0];
      s.bytes += d.storage_bytes;
    }
    if (!first) first = std::move(info);
  }
  std::printf("%zu HDF5 files (%s .. %s), %zu readable\n", paths.size(), paths.front().c_str(), paths.back().c_str(),
              paths.size() - bad.size());
  for (const auto& [name, s] : by_name) {
    std::vector<std::int64_t> shape{s.rows};
    shape.insert(shape.end(), s.row_shape.begin(), s.row_shape.end());
    std::printf("  %-24s %-10s %s in %d file(s), %s\n", name.c_str(), s.dtype.c_str(), dims_text(shape).c_str(), s.files,
                format_bytes(static_cast<double>(s.bytes)).c_str());
    for (std::size_t i = 0; i < s.disagree.size() && i < 5; ++i) std::printf("    differs: %s\n", s.disagree[i].c_str());
    if (s.disagree.size() > 5) std::printf("    ... %zu more files differ\n", s.disagree.size() - 5);
  }
  if (first) {
    for (const Hdf5Pair& p : trainable_pairs(*first)) {
      const Seen& s = by_name[p.images->name];
      std::printf("trainable pair: --images %s --labels %s (%lld rows in all files)\n", p.images->name.c_str(),
                  p.labels->name.c_str(), static_cast<long long>(s.rows));
    }
  }
  for (const auto& [p, why] : bad) std::printf("unreadable: %s: %s\n", p.c_str(), why.c_str());
  return static_cast<int>(bad.size());
}

}  // namespace stoker::cli
