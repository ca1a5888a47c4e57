# The Debian package: `cpack -G DEB` in the build directory (after a build)
# writes zd_VERSION_ARCH.deb with zdctl, its man page, its bash completion and
# the example units. Only the install rules of COMPONENT zd go in: the tests'
# and benchmarks' binaries never reach the package, whatever they install.
set(ZD_PACKAGE_MAINTAINER "zd maintainers <maintainers@zd.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME zd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "zero-downtime releases with BPF sk_lookup and XDP")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "zdctl points a domain (addresses and ports) at one workspace (an app's listening "
       "sockets) at a time. A switch is one BPF map update: established connections stay "
       "where they are and every new one goes to the new workspace, with no proxy and no "
       "NAT in the data path.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};${PROJECT_NAME};zd;/")
set(CPACK_STRIP_FILES ON) # the build keeps debug info; the package need not
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ZD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends is whatever the binary links dynamically, as dpkg-shlibdeps finds it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS bash-completion)
include(CPack)
