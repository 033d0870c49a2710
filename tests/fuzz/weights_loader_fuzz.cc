// libFuzzer target: the weights loader (load_weights_file, the function `--load` calls) on file
// bytes, for one small model. Every input must load or raise stoker::Error. Written against the
// public load function only, so it stays valid when the file format changes.
#include "pipeline/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_models.h"
#include "trainer/trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static fuzz::ScratchFile file("weights", ".stkw");
  static const ModelSpec spec = ModelSpec::parse(fuzz::kWeightsModel);
  const std::string& path = file.write(data, size);
  try {
    load_weights_file(path, spec, fuzz::kWeightsInput);
  } catch (const Error&) {
  }
  return 0;
}
