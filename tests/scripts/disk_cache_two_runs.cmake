# Runs `${PROG} --child` (bench/warm_start.cc: the README's compiled training step) twice as
# separate processes sharing the empty cache directory ${DIR}: the first must compile and store
# the object, the second must link it from disk (a disk hit, no write) and print bit-identical
# losses and Variable values.
file(REMOVE_RECURSE "${DIR}")
foreach(run 1 2)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env KILN_CACHE_DIR=${DIR} ${PROG} --child
                  OUTPUT_VARIABLE out${run} ERROR_VARIABLE err${run} RESULT_VARIABLE rc${run})
  if(NOT rc${run} EQUAL 0)
    message(FATAL_ERROR "run ${run} failed (${rc${run}}):\n${out${run}}\n${err${run}}")
  endif()
endforeach()
file(REMOVE_RECURSE "${DIR}")
if(NOT out1 MATCHES "disk_hits=0 disk_misses=1 disk_writes=1")
  message(FATAL_ERROR "the first run did not compile and store:\n${out1}")
endif()
if(NOT out2 MATCHES "disk_hits=1 disk_misses=0 disk_writes=0")
  message(FATAL_ERROR "the second run did not link the stored object:\n${out2}")
endif()
# The results: every line from the first "loss" on.
foreach(run 1 2)
  string(FIND "${out${run}}" "\nloss " at)
  if(at LESS 0)
    message(FATAL_ERROR "run ${run} printed no results:\n${out${run}}")
  endif()
  string(SUBSTRING "${out${run}}" ${at} -1 results${run})
endforeach()
if(NOT results1 STREQUAL results2)
  message(FATAL_ERROR "results differ:\nfirst run:${results1}\nsecond run:${results2}")
endif()
message(STATUS "second run linked the stored object; results identical:${results2}")
