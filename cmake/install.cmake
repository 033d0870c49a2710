# Install rules: `cmake --install build --prefix P` gives
#   P/include/stoker/<folder>/*.h          headers, root-relative as in the tree: consumers write
#                                          #include "pipeline/dataset.h" (include dir P/include/stoker,
#                                          which the exported targets carry)
#   P/lib/libstoker_<folder>.a|.so         the libraries
#   P/lib/cmake/stoker/stokerConfig.cmake  targets stoker::pipeline, stoker::formats, stoker::device,
#                                          stoker::trainer (+ stokerConfigVersion.cmake)
#   P/bin/stoker                           the command
# Consumers: find_package(stoker 0.1 REQUIRED) then target_link_libraries(app PRIVATE stoker::formats).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(STOKER_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/stoker)
set(stoker_exported)
# Headers internal to their library (included by its .cc files only, never by an installed header).
set(stoker_internal_headers device/feeder_state.h device/copy_plan.h formats/hdf5_buffer_hub.h formats/jpeg_scan.h
    formats/jpeg_window.h formats/jpeg_mcu_index.h formats/resize_kernels.h trainer/cpu_layers.h trainer/cuda_layers.h trainer/cuda_handles.h
    trainer/cpu_blas.h trainer/cuda_kernels.h)
foreach(part pipeline formats device trainer)
  if(TARGET stoker_${part})
    set_target_properties(stoker_${part} PROPERTIES EXPORT_NAME ${part})
    # The same names inside the tree, so in-tree and installed consumers read alike.
    add_library(stoker::${part} ALIAS stoker_${part})
    list(APPEND stoker_exported stoker_${part})
    set(excluded)
    foreach(h ${stoker_internal_headers})
      if(h MATCHES "^${part}/(.*)$")
        list(APPEND excluded PATTERN "${CMAKE_MATCH_1}" EXCLUDE)
      endif()
    endforeach()
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${part}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/stoker/${part}
            FILES_MATCHING PATTERN "*.h" ${excluded})
  endif()
endforeach()

install(TARGETS ${stoker_exported} EXPORT stokerTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET stoker)
  install(TARGETS stoker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(EXPORT stokerTargets NAMESPACE stoker:: DESTINATION ${STOKER_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/stokerConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/stokerConfig.cmake
                              INSTALL_DESTINATION ${STOKER_INSTALL_CMAKEDIR})
# 0.x: minor versions may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/stokerConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/stokerConfig.cmake ${PROJECT_BINARY_DIR}/stokerConfigVersion.cmake
        DESTINATION ${STOKER_INSTALL_CMAKEDIR})
