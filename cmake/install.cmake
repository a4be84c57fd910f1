# install.cmake: `cmake --install build --prefix P` puts
#   P/bin/attnsweep
#   P/lib/libattnsweep.a (and libattnsweep.so with -DATTNSWEEP_SHARED=ON)
#   P/include/attnsweep/*.h
#   P/lib/cmake/attnsweep/attnsweepConfig.cmake, attnsweepConfigVersion.cmake,
#     attnsweepTargets*.cmake  (find_package(attnsweep) -> target attnsweep::attnsweep)
#   P/lib/pkgconfig/attnsweep.pc (pkg-config --cflags --libs attnsweep)
#   P/share/attnsweep/{slurm/*.sbatch, demo.sh, report.py, attnsweep_results.py, sweeps/}
# Both package files are relocatable: they find the prefix from their own location.

install(TARGETS attnsweep RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${AS_INSTALL_LIBS} EXPORT attnsweepTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/attnsweep DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

set(AS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/attnsweep)
install(EXPORT attnsweepTargets NAMESPACE attnsweep:: DESTINATION ${AS_CMAKE_DIR})
configure_package_config_file(cmake/attnsweepConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/attnsweepConfig.cmake
                              INSTALL_DESTINATION ${AS_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/attnsweepConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attnsweepConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/attnsweepConfigVersion.cmake
        DESTINATION ${AS_CMAKE_DIR})

# pkg-config: OpenBLAS and cJSON by their own .pc files; MPI and HDF5 by the flags CMake
# found (their .pc names differ between MPI implementations and HDF5 flavours).
set(AS_PC_CFLAGS "")
foreach(dir ${MPI_C_INCLUDE_DIRS} ${HDF5_C_INCLUDE_DIRS})
  string(APPEND AS_PC_CFLAGS " -I${dir}")
endforeach()
foreach(def ${MPI_C_COMPILE_DEFINITIONS} ${HDF5_C_DEFINITIONS})
  string(REGEX REPLACE "^-D" "" def "${def}")
  string(APPEND AS_PC_CFLAGS " -D${def}")
endforeach()
foreach(opt ${MPI_C_COMPILE_OPTIONS})
  string(APPEND AS_PC_CFLAGS " ${opt}")
endforeach()
set(AS_PC_LIBS "")
set(AS_PC_LIBDIRS "")
foreach(lib ${MPI_C_LINK_FLAGS} ${MPI_C_LIBRARIES} ${HDF5_C_LIBRARIES})
  if(lib MATCHES "^(.*)/lib([^/]+)\\.(so|a|dylib)(\\.[0-9.]+)?$")
    if(NOT CMAKE_MATCH_1 IN_LIST AS_PC_LIBDIRS)
      list(APPEND AS_PC_LIBDIRS "${CMAKE_MATCH_1}")
      string(APPEND AS_PC_LIBS " -L${CMAKE_MATCH_1}")
    endif()
    string(APPEND AS_PC_LIBS " -l${CMAKE_MATCH_2}")
  else()
    string(APPEND AS_PC_LIBS " ${lib}")
  endif()
endforeach()
configure_file(cmake/attnsweep.pc.in ${CMAKE_CURRENT_BINARY_DIR}/attnsweep.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attnsweep.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The scripts: the installed Slurm scripts default to this prefix's bin/attnsweep (Slurm
# runs a copy of the script, so it cannot look beside itself); they still honour
# ATTNSWEEP_BIN, then build/attnsweep in the submit directory, then attnsweep on PATH.
set(AS_SHARE ${CMAKE_INSTALL_DATADIR}/attnsweep)
foreach(script sweep.sbatch train.sbatch)
  install(CODE "set(AS_SRC \"${CMAKE_CURRENT_SOURCE_DIR}/scripts/slurm/${script}\")
                set(AS_DST_REL \"${AS_SHARE}/slurm/${script}\")
                set(AS_BIN_REL \"${CMAKE_INSTALL_BINDIR}/attnsweep\")
                include(\"${CMAKE_CURRENT_SOURCE_DIR}/cmake/install_script.cmake\")")
endforeach()
install(DIRECTORY scripts/ DESTINATION ${AS_SHARE} FILES_MATCHING PATTERN "*.py"
        PATTERN "slurm" EXCLUDE)
install(DIRECTORY sweeps/ DESTINATION ${AS_SHARE}/sweeps FILES_MATCHING PATTERN "*.json")
