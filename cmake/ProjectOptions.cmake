# Warnings travel on an INTERFACE target, never through CMAKE_CXX_FLAGS.
add_library(openbits_warnings INTERFACE)
add_library(openbits::warnings ALIAS openbits_warnings)
if(MSVC)
  target_compile_options(openbits_warnings INTERFACE /W4 $<$<BOOL:${OPENBITS_DEV_MODE}>:/WX>)
else()
  target_compile_options(openbits_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough
    # GCC 12 reports std::string concatenation at -O3 as overlapping memcpy
    # (GCC bug 105651, a false positive).
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
    $<$<BOOL:${OPENBITS_DEV_MODE}>:-Werror>)
endif()

# Helper: every library target of the project is built the same way.
function(openbits_library name)
  target_link_libraries(${name} PRIVATE $<BUILD_INTERFACE:openbits::warnings>)
  # CURL_STRICTER gives CURL and CURLM distinct types (CPtr needs them).
  target_compile_definitions(${name} PRIVATE BOOST_ASIO_NO_DEPRECATED CURL_STRICTER)
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${ARGN})
endfunction()
