// JSON reports of the `stoker` commands (see json_report.h).
#include "cli/json_report.h"

#include <cmath>

#include "cli/hdf5_layout.h"

namespace stoker::cli {
namespace {

// nlohmann::ordered_json writes NaN and infinities as null already; this states it where the figures are made.
nlohmann::ordered_json number(double x) { return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr); }

}  // namespace

nlohmann::ordered_json to_json(const EpochReport& r) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["epoch"] = r.epoch + 1;
  j["steps"] = r.steps;
  j["samples"] = r.samples;
  j["loss"] = number(r.loss);
  j["accuracy"] = number(r.accuracy);
  if (r.validation) {
    j["val_loss"] = number(r.validation->loss);
    j["val_accuracy"] = number(r.validation->accuracy);
    j["val_samples"] = r.validation->samples;
  }
  j["seconds"] = number(r.seconds);
  j["samples_per_s"] = number(r.samples_per_s);
  j["stall_pct"] = number(r.stall_pct);
  j["skipped_steps"] = r.skipped_steps;
  j["skipped_elements"] = r.skipped_elements;
  j["peak_pipeline_bytes"] = r.peak_pipeline_bytes;
  j["peak_backend_bytes"] = r.peak_backend_bytes;
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["stopped"] = r.stopped;
  if (r.feeder) {  // epochs fed by the device feeder: its copy rate and the GPU's idle time
    j["feeder"] = {{"host_mode", r.feeder->host_mode},         {"batches", r.feeder->batches},
                   {"h2d_gbps", number(r.feeder->h2d_gbps)},   {"input_stall_pct", number(r.feeder->input_stall_pct)},
                   {"gpu_idle_s", number(r.feeder->gpu_idle_s)}, {"host_wait_s", number(r.feeder->host_wait_s)},
                   {"ring_wait_s", number(r.feeder->ring_wait_s)}};
  }
  return j;
}

nlohmann::ordered_json to_json(const PipelineStats& s) {
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (const StageStats& st : s.stages) {
    stages.push_back({{"name", st.name},
                      {"elements_in", st.elements_in},
                      {"elements_out", st.elements_out},
                      {"skipped", st.skipped},
                      {"bytes_held", st.bytes_held},
                      {"peak_bytes", st.peak_bytes},
                      {"wait_input_s", number(st.wait_input_s)},
                      {"blocked_output_s", number(st.blocked_output_s)}});
  }
  return {{"stages", std::move(stages)},   {"memory_budget", s.memory_budget}, {"bytes_held", s.bytes_held},
          {"peak_bytes", s.peak_bytes},    {"skipped", s.skipped},             {"errors_seen", s.errors_seen},
          {"first_errors", s.first_errors}};
}

nlohmann::ordered_json to_json(const Hdf5FileInfo& info) {
  nlohmann::ordered_json datasets = nlohmann::ordered_json::array();
  for (const Hdf5DatasetInfo& d : info.datasets) {
    nlohmann::ordered_json filters = nlohmann::ordered_json::array();
    for (const Hdf5FilterInfo& f : d.filters) {
      filters.push_back({{"id", f.id}, {"name", f.name}, {"available", f.available}, {"values", f.values}});
    }
    datasets.push_back({{"name", d.name},
                        {"dtype", d.dtype},
                        {"vlen_bytes", d.vlen_bytes},
                        {"shape", d.shape},
                        {"chunk", d.chunk},
                        {"layout", d.layout},
                        {"filters", std::move(filters)},
                        {"storage_bytes", d.storage_bytes}});
  }
  nlohmann::ordered_json pairs = nlohmann::ordered_json::array();
  for (const Hdf5Pair& p : trainable_pairs(info)) {
    pairs.push_back({{"images", p.images->name},
                     {"labels", p.labels->name},
                     {"rows", p.images->shape.empty() ? 0 : p.images->shape[0]},
                     {"encoded_jpegs", p.images->vlen_bytes},
                     {"flat_rows", !p.images->vlen_bytes && p.images->shape.size() == 2}});
  }
  return {{"kind", "hdf5"}, {"path", info.path}, {"datasets", std::move(datasets)}, {"trainable_pairs", std::move(pairs)}};
}

}  // namespace stoker::cli
