include(CMakePackageConfigHelpers)

install(DIRECTORY include/openbits
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT openbits_Development)
install(FILES ${PROJECT_BINARY_DIR}/include/openbits/export.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/openbits
  COMPONENT openbits_Development)

install(TARGETS openbits openbits_remote openbits_engine openbits_store openbits_auth
                openbits_platform openbits_core
  EXPORT openbitsTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT openbitsTargets
  NAMESPACE openbits::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openbits
  COMPONENT openbits_Development)

configure_package_config_file(cmake/openbitsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/openbitsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openbits)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/openbitsConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/openbitsConfig.cmake
  ${PROJECT_BINARY_DIR}/openbitsConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openbits
  COMPONENT openbits_Development)
