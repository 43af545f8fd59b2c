# Warnings and sanitizers applied to every herd target through herd_options.
add_library(herd_options INTERFACE)
target_compile_options(herd_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough
  # GCC 12 false positives: Asio coroutine frames (-Wmismatched-new-delete)
  # and `"literal" + std::string` at -O3 (-Wrestrict, GCC bug 105651).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete -Wno-restrict>)
if(HERD_WERROR)
  target_compile_options(herd_options INTERFACE -Werror)
endif()
target_include_directories(herd_options INTERFACE ${PROJECT_SOURCE_DIR})

if(HERD_SANITIZE STREQUAL "address")
  # AddressSanitizer (with LeakSanitizer) and UBSan; undefined behaviour
  # aborts like a memory error instead of printing and going on, so that a
  # test fails on it.
  target_compile_options(herd_options INTERFACE -fsanitize=address,undefined
    -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(herd_options INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
elseif(HERD_SANITIZE STREQUAL "thread")
  # Asio issues std::atomic_thread_fence, which GCC warns TSan does not model;
  # its handler queues are mutex-protected, which TSan does see.
  target_compile_options(herd_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer
    $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  target_link_options(herd_options INTERFACE -fsanitize=thread)
elseif(NOT HERD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "HERD_SANITIZE must be address, thread or empty")
endif()
if(NOT HERD_SANITIZE STREQUAL "")
  # Sanitizer builds are compiled at -O1 (after the build type's -O2, so it
  # wins): the sanitizers' own advice for usable reports, and less compile
  # time; what they test is the code's behaviour, not its speed.
  target_compile_options(herd_options INTERFACE -O1)
  # With sanitizer instrumentation GCC 12 reports false -Warray-bounds and
  # -Wstringop-overflow/-overread on std::vector::insert (GCC bug 107852), and with
  # ASan false -Wmaybe-uninitialized inside <regex>; the normal build keeps these
  # warnings as errors.
  target_compile_options(herd_options INTERFACE
    $<$<CXX_COMPILER_ID:GNU>:-Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread
      -Wno-maybe-uninitialized>)
endif()

# herd_module(<name> <deps>...): the library of module folder <name>, built
# from every .cpp in it, linked to herd_options and <deps>.
function(herd_module name)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(herd_${name} STATIC ${srcs})
  target_link_libraries(herd_${name} PUBLIC herd_options ${ARGN})
endfunction()
