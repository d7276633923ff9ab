# Writes ${OUT}: `#define KILN_CODEGEN_ID "<sha256>"`, a hash of ${FILES} ('|'-separated), the
# sources that decide what code the compiler generates. The on-disk cache keys objects by it, so
# a kiln whose code generation changed never links an object an older one wrote. The file is
# rewritten only when the hash changes.
string(REPLACE "|" ";" files "${FILES}")
set(text "")
foreach(f IN LISTS files)
  file(READ "${f}" content)
  get_filename_component(name "${f}" NAME)
  string(APPEND text "${name}\n${content}\n")
endforeach()
string(SHA256 hash "${text}")
set(line "#define KILN_CODEGEN_ID \"${hash}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL line)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${line}")
