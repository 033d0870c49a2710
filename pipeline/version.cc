// The version string, compiled in from CMake's PROJECT_VERSION (see pipeline/CMakeLists.txt).
#include "pipeline/version.h"

#ifndef STOKER_VERSION
#error "STOKER_VERSION must be defined by the build (pipeline/CMakeLists.txt)"
#endif

namespace stoker {

const char* version() { return STOKER_VERSION; }

}  // namespace stoker
