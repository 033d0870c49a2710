// train_fashion_mnist: the accuracy anchor. Streams Fashion-MNIST's idx files through a stoker
// pipeline (idx -> map(to float / 255) -> shuffle -> batch -> prefetch), trains the seed's model
// or the convnet, and prints per-epoch loss / accuracy / time / samples/s / stall and the test
// accuracy. Ctrl-C stops after the current step (saving weights if --save is given).
//
//   train_fashion_mnist [--model seed|convnet|"<spec>"] [--epochs 10] [--threads 2]
//                       [--batch N|auto] [--backend auto|cpu|cuda] [--precision float32|mixed_float16|mixed_bfloat16]
//                       [--lr 0.001] [--lr-schedule constant|cosine] [--optimizer adam|sgd] [--momentum 0.9] [--take N]
//                       [--data /usr/share/datasets/fashion-mnist] [--save weights.stkw] [--seed 0]
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "formats/idx_source.h"
#include "pipeline/error.h"
#include "trainer/cpu_blas.h"
#include "trainer/trainer.h"

namespace {

std::atomic<bool> g_stop{false};
void on_sigint(int) { g_stop.store(true); }

stoker::Element to_float(stoker::Element e) {
  const stoker::Tensor& img = e[0];
  stoker::Tensor f(stoker::DType::kF32, img.shape());
  const auto* src = img.data_as<std::uint8_t>();
  float* dst = f.mutable_data_as<float>();
  for (std::int64_t i = 0; i < img.shape().num_elements(); ++i) dst[i] = static_cast<float>(src[i]) / 255.f;
  return stoker::Element{std::move(f), e[1]};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "seed", data = "/usr/share/datasets/fashion-mnist", save, backend = "auto", precision = "float32";
  std::string optimizer = "adam", schedule = "constant";
  int epochs = 10, threads = 2;
  std::int64_t batch = 32, take = 0;
  double lr = 1e-3, momentum = 0.9;
  std::uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model = val();
    else if (a == "--epochs") epochs = std::stoi(val());
    else if (a == "--batch") {
      std::string b = val();
      batch = b == "auto" ? 0 : std::stoll(b);  // auto: the largest micro-batch that fits
    }
    else if (a == "--threads") threads = std::stoi(val());
    else if (a == "--backend") backend = val();
    else if (a == "--precision") precision = val();
    else if (a == "--lr") lr = std::stod(val());
    else if (a == "--optimizer") optimizer = val();
    else if (a == "--lr-schedule") schedule = val();
    else if (a == "--momentum") momentum = std::stod(val());
    else if (a == "--take") take = std::stoll(val());
    else if (a == "--data") data = val();
    else if (a == "--save") save = val();
    else if (a == "--seed") seed = std::stoull(val());
    else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of train_fashion_mnist.cc)\n", a.c_str());
      return 2;
    }
  }
  std::signal(SIGINT, on_sigint);
  try {
    stoker::Dataset train = stoker::idx(data + "/train-images-idx3-ubyte.gz", data + "/train-labels-idx1-ubyte.gz");
    stoker::Dataset test = stoker::idx(data + "/t10k-images-idx3-ubyte.gz", data + "/t10k-labels-idx1-ubyte.gz");

    stoker::TrainerConfig cfg;
    cfg.backend = backend;
    cfg.precision = stoker::parse_precision(precision);
    cfg.optimizer.kind = optimizer == "sgd" ? stoker::OptimizerConfig::kSgd : stoker::OptimizerConfig::kAdam;
    cfg.optimizer.learning_rate = static_cast<float>(lr);
    cfg.optimizer.momentum = static_cast<float>(momentum);
    cfg.batch_size = batch;
    cfg.num_threads = threads;
    cfg.seed = seed;
    stoker::Trainer trainer(stoker::ModelSpec::from_string(model, 10), {28, 28, 1}, cfg);
    batch = trainer.plan().batch;
    // cosine: Keras' CosineDecay from lr to 0 over every step of the run.
    const std::int64_t rows = take > 0 ? std::min<std::int64_t>(take, 60000) : 60000;
    stoker::OptimizerConfig oc = cfg.optimizer;
    oc.schedule = stoker::parse_schedule(schedule);
    oc.decay_steps = epochs * ((rows + batch - 1) / batch);
    trainer.set_optimizer(oc);
    if (take > 0) train = train.take(take);
    train = train.map(to_float).shuffle(60000).batch(batch).prefetch(2);  // seeded per epoch by fit()
    test = test.map(to_float).batch(1000).prefetch(2);
    std::printf("model: %s\nbackend: %s, precision %s, %d threads, batch %lld, %s lr %g (%s)\nplan: %s\n",
                trainer.spec().to_string().c_str(), trainer.backend().name().c_str(), precision.c_str(), threads,
                static_cast<long long>(batch), optimizer.c_str(), lr, schedule.c_str(), trainer.plan().to_string().c_str());
    if (trainer.backend().name() == "cpu") std::printf("blas: %s\n", stoker::cpu_blas::note().c_str());
    std::fflush(stdout);

    stoker::FitOptions fo;
    fo.epochs = epochs;
    fo.validation = test;
    fo.pipeline_options.num_threads = threads;
    fo.pipeline_options.seed = seed;
    fo.stop = &g_stop;
    fo.save_on_stop = save;
    double total_s = 0;
    fo.on_epoch = [&](const stoker::EpochReport& r) {
      total_s += r.seconds;
      std::printf("%s (eval %.1f s)\n", r.to_string().c_str(), r.validation ? r.validation->seconds : 0.0);
      std::fflush(stdout);
    };
    auto reports = trainer.fit(train, fo);
    if (!save.empty() && !(reports.empty() || reports.back().stopped)) trainer.save_weights(save);
    if (!reports.empty() && reports.back().validation) {
      std::printf("test accuracy %.4f after %zu epochs, %.1f s training\n", reports.back().validation->accuracy,
                  reports.size(), total_s);
    }
  } catch (const stoker::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
