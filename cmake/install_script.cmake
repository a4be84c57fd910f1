# install_script.cmake (run by `cmake --install`): copies the script AS_SRC to
# PREFIX/AS_DST_REL with its line AS_INSTALLED_BIN="" set to PREFIX/AS_BIN_REL.
set(dst "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${AS_DST_REL}")
file(READ "${AS_SRC}" text)
string(FIND "${text}" "AS_INSTALLED_BIN=\"\"" at)
if(at LESS 0)
  message(FATAL_ERROR "${AS_SRC}: no line AS_INSTALLED_BIN=\"\" to set")
endif()
string(REPLACE "AS_INSTALLED_BIN=\"\"" "AS_INSTALLED_BIN=\"${CMAKE_INSTALL_PREFIX}/${AS_BIN_REL}\""
       text "${text}")
message(STATUS "Installing: ${dst}")
get_filename_component(dir "${dst}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
file(WRITE "${dst}" "${text}")
file(CHMOD "${dst}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
     WORLD_READ WORLD_EXECUTE)
