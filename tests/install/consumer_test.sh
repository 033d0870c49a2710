#!/usr/bin/env bash
# Install.ConsumerBuildsAgainstInstalledPackage: installs the built tree into a temporary prefix,
# configures and builds examples/cpp_consumer (an outside project: find_package(stoker)) against
# it, generates an HDF5 file with the installed `stoker` command and checks what the consumer read.
# Usage: consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/stoker/pipeline/dataset.h include/stoker/formats/hdf5_source.h \
         lib/cmake/stoker/stokerConfig.cmake lib/cmake/stoker/stokerConfigVersion.cmake bin/stoker; do
  [ -e "$tmp/prefix/$f" ] || { echo "FAIL: not installed: $f"; exit 1; }
done

version=$("$tmp/prefix/bin/stoker" --version)
echo "$version"
[[ $version =~ ^stoker\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "FAIL: stoker --version printed '$version'"; exit 1; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$src/examples/cpp_consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" "${launcher[@]}" >/dev/null
cmake --build "$tmp/consumer" >/dev/null

# 1000 rows of 8x8x1 in chunks of 64 rows; batch 32 -> 31 full batches and one of 8.
"$tmp/prefix/bin/stoker" make-dataset "$tmp/d.h5" --n 1000 --test-n 10 --size 8x8 --channels 1 \
    --classes 10 --chunk-rows 64 --threads 2 >/dev/null
out=$("$tmp/consumer/stoker_consumer" "$tmp/d.h5" /train/images /train/labels 32)
echo "$out"
expect="${version} rows=1000 batches=32 "
[[ $out == "$expect"* ]] || { echo "FAIL: expected output to start with '$expect'"; exit 1; }
[[ $out == *"model=flatten dense(10)"* ]] || { echo "FAIL: model spec not round-tripped"; exit 1; }

# Bad input: a file that is not HDF5 is a stoker::Error (exit 1) naming the file, not a crash.
echo "not hdf5" > "$tmp/bad.h5"
set +e
err=$("$tmp/consumer/stoker_consumer" "$tmp/bad.h5" /train/images /train/labels 2>&1)
rc=$?
set -e
echo "$err"
[ $rc -eq 1 ] && [[ $err == *bad.h5* ]] || { echo "FAIL: bad file gave rc=$rc"; exit 1; }
echo "PASS"
