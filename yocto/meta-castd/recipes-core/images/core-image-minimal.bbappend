# Example: core-image-minimal as a capture appliance. castd needs systemd as the init
# manager (INIT_MANAGER = "systemd" in local.conf) and, for x264enc and gstreamer1.0-libav,
# LICENSE_FLAGS_ACCEPTED += "commercial".
IMAGE_INSTALL:append = " packagegroup-castd"
# Room for recordings and the GStreamer plugins.
IMAGE_ROOTFS_EXTRA_SPACE = "1048576"
