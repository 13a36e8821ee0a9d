SUMMARY = "castd lecture capture daemon and its castctl client"
DESCRIPTION = "castd turns a small Linux box in a lecture hall into a capture appliance: \
V4L2/ALSA/network capture devices, GStreamer capture graphs, scheduling, publishing and the \
CaptureCast HTTP API v1."
SECTION = "multimedia"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The sources: a git repository (set CASTD_GIT_URI and SRCREV in local.conf), or a checkout
# on the build host through externalsrc (see README.md).
CASTD_GIT_URI ??= "git://git.example.org/castd.git;protocol=https;branch=main"
SRC_URI = "${CASTD_GIT_URI}"
SRCREV ??= "${AUTOREV}"
S = "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}"

# Every crate of Cargo.lock, fetched and checked by bitbake (scripts/yocto-crates).
require castd-crates.inc

inherit cargo pkgconfig systemd useradd

# gstreamer-sys and alsa-sys link the target's libraries (found with pkg-config);
# v4l2-sys-mit runs bindgen at build time, which needs libclang (clang-native) and the
# target's kernel headers through the sysroot.
DEPENDS += "gstreamer1.0 gstreamer1.0-plugins-base alsa-lib clang-native"
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_TARGET}"

# The cargo class installs every binary of the package: castd and castctl.
do_install:append() {
    install -D -m 0644 ${S}/systemd/castd.service ${D}${systemd_system_unitdir}/castd.service
    install -D -m 0644 ${S}/systemd/castd.sysusers.conf ${D}${nonarch_libdir}/sysusers.d/castd.conf
    install -D -m 0644 ${S}/systemd/castd.tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/castd.conf
    install -D -m 0644 ${S}/udev/70-castd.rules ${D}${nonarch_base_libdir}/udev/rules.d/70-castd.rules
    install -D -m 0644 ${S}/systemd/castd.polkit.rules ${D}${datadir}/polkit-1/rules.d/50-castd.rules
    # Reference copies: the default templates and the web page are built into castd.
    install -d ${D}${datadir}/castd/templates ${D}${datadir}/castd/web
    install -m 0644 ${S}/assets/templates/*.json ${D}${datadir}/castd/templates/
    install -m 0644 ${S}/assets/web/* ${D}${datadir}/castd/web/
}

# The user exists in the image already (read-only root file systems cannot run
# systemd-sysusers at boot); the sysusers.d entry says the same for systems that can.
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir /var/lib/castd --no-create-home \
    --shell /sbin/nologin --user-group --groups video,audio castd"

SYSTEMD_SERVICE:${PN} = "castd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

FILES:${PN} += " \
    ${systemd_system_unitdir}/castd.service \
    ${nonarch_libdir}/sysusers.d/castd.conf \
    ${nonarch_libdir}/tmpfiles.d/castd.conf \
    ${nonarch_base_libdir}/udev/rules.d/70-castd.rules \
    ${datadir}/polkit-1/rules.d/50-castd.rules \
    ${datadir}/castd \
"

# The GStreamer plugins castd's capture graphs use come with packagegroup-castd.
RRECOMMENDS:${PN} += "packagegroup-castd-gstreamer"
