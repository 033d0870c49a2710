// stoker's version (project(stoker VERSION ...) in the top-level CMakeLists.txt), for `stoker
// --version`, the Python module's __version__ and consumers of the installed package.
#pragma once

namespace stoker {

// "MAJOR.MINOR.PATCH".
const char* version();

}  // namespace stoker
