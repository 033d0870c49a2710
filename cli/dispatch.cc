// The command table (name, synopsis, --help text) and run(): dispatch plus the mapping of
// errors to exit codes (0 ok, 1 runtime error, 2 usage error).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "pipeline/error.h"
#include "pipeline/version.h"

namespace stoker::cli {
namespace {

void print_usage(std::FILE* to) {
  std::fprintf(to,
               "stoker: stream datasets larger than RAM or VRAM from disk into training.\n\n"
               "usage: stoker <command> [flags]   (stoker <command> --help for its flags; stoker --version)\n\ncommands:\n");
  for (const Command& c : commands()) std::fprintf(to, "  %-13s %s\n", c.name, c.summary);
  std::fprintf(to, "\nexit codes: 0 ok, 1 runtime error (bad file, bad data), 2 usage error, 130 interrupted\n");
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"train", "train a model (preset seed|convnet or a spec) streaming from HDF5 or an image folder",
       "--data FILE.h5|FOLDER [flags]",
       "data:\n"
       "  --data PATH            HDF5 file or image folder (root/<class>/*.jpg), or many as one:\n"
       "                         'train-*.h5' (quoted glob), @list.txt (a path a line), a/,b/ (folders)\n"
       "  --images NAME          HDF5 images dataset [N,H,W(,C)] (/train/images)\n"
       "  --labels NAME          HDF5 labels dataset [N] (/train/labels)\n"
       "  --val-data PATH        validation data (default: --data when --val-images is given)\n"
       "  --val-images NAME      HDF5 validation images (/test/images when --val-data is an HDF5 file)\n"
       "  --val-labels NAME      HDF5 validation labels (/test/labels)\n"
       "  --size HxW             image folders: decode and resize to this size (first image's size)\n"
       "  --gray                 image folders: decode to one channel\n"
       "  --classes N            number of classes (HDF5: max label + 1; folders: class folders)\n"
       "model and training:\n"
       "  --model SPEC           preset seed|convnet or a spec text, e.g. \"conv2d(32,3,relu) maxpool(2)\n"
       "                         flatten dense(10,softmax)\" (seed)\n"
       "  --epochs N             epochs (1)\n"
       "  --batch N|auto         samples per optimizer step; auto: the largest that fits (32)\n"
       "  --precision P          float32|mixed_float16|mixed_bfloat16 (float32)\n"
       "  --lr X                 Adam learning rate (0.001)\n"
       "  --lr-schedule S        constant|cosine: cosine decays --lr to 0 over all epochs (constant)\n"
       "  --device D             cpu|cuda|auto (auto: cuda when a device is present)\n"
       "  --model-memory BYTES   memory the model may use, e.g. 2G (free VRAM / available RAM);\n"
       "                         a batch that does not fit runs as micro-batches\n"
       "  --seed N               weights, shuffle order, dropout (0)\n"
       "  --load FILE            start from these weights\n"
       "  --save FILE            write the weights at the end (and on Ctrl-C)\n"
       "  --checkpoint FILE      write the whole training state (weights, optimizer, schedule, data\n"
       "                         position) at each epoch end and on Ctrl-C, atomically\n"
       "  --checkpoint-every N   also every N steps\n"
       "  --resume FILE          continue exactly from a checkpoint (same flags; --threads may differ)\n"
       "pipeline:\n"
       "  --memory-budget BYTES  pipeline memory budget, e.g. 512M (1G)\n"
       "  --shuffle-buffer N     rows in the shuffle buffer (auto: a quarter of the budget)\n"
       "  --threads N            pipeline and CPU-backend threads (all cores)\n"
       "  --pinned-ring auto|on|off  write batches into a ring of page-locked slots (auto: with cuda)\n"
       "  --feeder auto|on|off   ring -> device feeder -> backend: batch i+1 is copied to the GPU on its\n"
       "                         own stream while batch i trains (auto: with cuda); off: the backend\n"
       "                         uploads each batch on its compute stream (the serial path)\n"
       "  --on-error fail|skip   a bad element (e.g. a truncated JPEG) ends the run (fail), or is skipped,\n"
       "                         counted and its message shown in the epoch lines and summary (fail)\n"
       "output:\n"
       "  --log FILE.jsonl       one JSON object per epoch\n"
       "  --progress auto|bar|line  progress bar on a terminal, one line per epoch otherwise (auto)\n"
       "  --trace FILE.json      write a Chrome trace (Perfetto, chrome://tracing): per thread, the\n"
       "                         reads, decodes, batches, steps and every wait\n"
       "Ctrl-C stops after the current step (weights saved with --save), exit code 130.\n"
       "Data parallel: mpirun -np N stoker train ...: --batch per rank, each rank reads an equal\n"
       "shard, only rank 0 logs and saves (docs/distributed.md).\n\n"
       "example:\n"
       "  stoker train --data fashion_mnist.h5 --val-images /test/images --val-labels /test/labels \\\n"
       "               --model seed --epochs 3 --batch 64 --device auto --log train.jsonl\n",
       train_command},
      {"bench", "measure the input pipeline alone: images/s, MB/s, per-stage stats, bottleneck, peak memory",
       "--data FILE.h5|FOLDER [flags]",
       "  --data PATH            HDF5 file or image folder, or a glob / @list / a,b of them\n"
       "  --images NAME          HDF5 images dataset (/train/images)\n"
       "  --labels NAME          HDF5 labels dataset (/train/labels)\n"
       "  --size HxW             image folders: decode and resize to this size (first image's size)\n"
       "  --gray                 image folders: decode to one channel\n"
       "  --batch N              batch size (256)\n"
       "  --epochs N             passes over the data (1)\n"
       "  --limit N              stop after N images (all)\n"
       "  --shuffle-buffer N     rows in the shuffle buffer; 0: no shuffle (0)\n"
       "  --threads N            worker threads (all cores)\n"
       "  --memory-budget BYTES  pipeline memory budget (512M)\n"
       "  --on-error fail|skip   a bad element ends the run (fail) or is skipped and counted (fail)\n"
       "  --json                 print the report as one JSON object\n"
       "  --trace FILE.json      write a Chrome trace (Perfetto, chrome://tracing) of the run\n\n"
       "example:\n"
       "  stoker bench --data synth.h5 --batch 256 --threads 2\n",
       bench_command},
      {"convert", "Fashion-MNIST idx files or an image folder -> HDF5; HDF5 -> image folder of JPEGs",
       "INPUT OUTPUT [flags]",
       "  INPUT                  a folder with Fashion-MNIST/MNIST idx files (*-idx3-ubyte[.gz]),\n"
       "                         an image folder (root/<class>/*.jpg) or an HDF5 file\n"
       "  OUTPUT                 FILE.h5 (from idx or images) or a folder (from HDF5)\n"
       "to HDF5:\n"
       "  --chunk-rows N         rows per chunk (about 1 MiB of rows)\n"
       "  --deflate L            gzip level 1-9 (0: none) (0)\n"
       "  --shuffle-filter       byte-shuffle before deflate\n"
       "  --size HxW             image folders: resize to this size (first image's size)\n"
       "  --gray                 image folders: one channel\n"
       "  --store pixels|jpeg    image folders: decoded pixels [N,H,W,C], or the encoded files as they are\n"
       "                         (vlen uint8 [N]; train/bench decode them in the pipeline) (pixels)\n"
       "  --images NAME, --labels NAME  dataset names for an image folder (/train/images, /train/labels)\n"
       "to an image folder:\n"
       "  --images NAME, --labels NAME  datasets to export (/train/images, /train/labels)\n"
       "  --quality Q            JPEG quality (95)\n"
       "  --threads N            worker threads (all cores)\n"
       "  --on-error fail|skip   a bad input (e.g. a truncated JPEG) ends the conversion (fail), or is\n"
       "                         left out and listed with its file (fail)\n\n"
       "examples:\n"
       "  stoker convert /usr/share/datasets/fashion-mnist fashion_mnist.h5 --chunk-rows 1024\n"
       "  stoker convert fashion_mnist.h5 fm_jpeg/train --images /train/images --labels /train/labels\n",
       convert_command},
      {"inspect", "describe an HDF5 file (rows, shapes, dtypes, chunking, filters) or an image folder",
       "PATH [flags]",
       "  PATH                   HDF5 file or image folder; a quoted glob or @list of HDF5 files\n"
       "                         prints one summary of all (rows summed, files that differ)\n"
       "  --samples N            image folders: sizes of the first N images (5)\n"
       "  --json                 print the description as one JSON object\n\n"
       "example:\n"
       "  stoker inspect fashion_mnist.h5\n",
       inspect_command},
      {"make-dataset", "write a synthetic, learnable N x H x W x C dataset (HDF5 or JPEG folder) in blocks",
       "OUTPUT [flags]",
       "  OUTPUT                 FILE.h5 (HDF5: /train/images, /train/labels, /test/...) or a folder\n"
       "                         (JPEG: OUTPUT/train/<class>/*.jpg, OUTPUT/test/<class>/*.jpg)\n"
       "  --format F             hdf5|jpeg (from OUTPUT: .h5/.hdf5 -> hdf5, else jpeg)\n"
       "  --n N                  training samples (10000)\n"
       "  --test-n N             test samples (n/10)\n"
       "  --size HxW             image size (128x128)\n"
       "  --channels C           1 or 3 (3)\n"
       "  --classes K            classes (10)\n"
       "  --seed N               (0)\n"
       "  --chunk-rows N, --deflate L, --shuffle-filter  HDF5 storage (as convert)\n"
       "  --quality Q            JPEG quality (90)\n"
       "  --threads N            worker threads (all cores)\n"
       "Images are class-dependent gratings (orientation, colour) with random phase, contrast and\n"
       "noise: a model learns them, so training on them shows real learning.\n\n"
       "example:\n"
       "  stoker make-dataset synth.h5 --n 100000 --size 128x128 --classes 10\n",
       make_dataset_command},
      {"demo", "stream synthetic images through a pipeline and print per-stage stats",
       "[flags]",
       "  --images N            images to generate (20000)\n"
       "  --size S              image side in pixels (64)\n"
       "  --batch B             batch size (256)\n"
       "  --threads T           worker threads (all cores)\n"
       "  --memory-budget-mb M  pipeline memory budget in MiB (64)\n",
       demo_command},
  };
  return all;
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_usage(args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("stoker %s\n", stoker::version());
    return kExitOk;
  }
  const Command* cmd = nullptr;
  for (const Command& c : commands()) {
    if (args[0] == c.name) cmd = &c;
  }
  if (!cmd) {
    std::fprintf(stderr, "stoker: unknown command '%s'\n\n", args[0].c_str());
    print_usage(stderr);
    return kExitUsage;
  }
  try {
    Args parsed(cmd->name, std::vector<std::string>(args.begin() + 1, args.end()), {"gray", "shuffle-filter", "json"});
    if (parsed.help()) {
      std::printf("usage: stoker %s %s\n%s\n\n%s", cmd->name, cmd->usage, cmd->summary, cmd->help);
      return kExitOk;
    }
    const int rc = cmd->run(parsed);
    std::fflush(stdout);
    return rc;
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "stoker %s: %s\n(see: stoker %s --help)\n", cmd->name, e.what(), cmd->name);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "stoker %s: error: %s\n", cmd->name, e.what());
    return kExitRuntimeError;
  }
}

}  // namespace stoker::cli
