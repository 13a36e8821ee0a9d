SUMMARY = "castd and the GStreamer plugins its capture graphs use"
DESCRIPTION = "Add packagegroup-castd to an image to make it a capture appliance."
LICENSE = "MIT"

inherit packagegroup

PACKAGES = "${PN} ${PN}-gstreamer"

RDEPENDS:${PN} = "castd ${PN}-gstreamer"

# Each element castd builds (src/media, src/graph/compile.rs), by the package that has it.
RDEPENDS:${PN}-gstreamer = " \
    gstreamer1.0 \
    gstreamer1.0-plugins-base-videotestsrc \
    gstreamer1.0-plugins-base-audiotestsrc \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videorate \
    gstreamer1.0-plugins-base-audioconvert \
    gstreamer1.0-plugins-base-audioresample \
    gstreamer1.0-plugins-base-audiorate \
    gstreamer1.0-plugins-base-compositor \
    gstreamer1.0-plugins-base-audiomixer \
    gstreamer1.0-plugins-base-volume \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-alsa \
    gstreamer1.0-plugins-base-pango \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-good-video4linux2 \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-good-matroska \
    gstreamer1.0-plugins-good-jpeg \
    gstreamer1.0-plugins-good-level \
    gstreamer1.0-plugins-good-audioparsers \
    gstreamer1.0-plugins-good-flv \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-udp \
    gstreamer1.0-plugins-good-soup \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-bad-rtmp2 \
    gstreamer1.0-plugins-bad-mpegtsdemux \
    gstreamer1.0-plugins-bad-voaacenc \
    gstreamer1.0-plugins-ugly-x264 \
"
# Hardware H.264 encoding (VA-API) and SRT cameras when the plugins are built (PACKAGECONFIG
# va and srt of gstreamer1.0-plugins-bad); avenc_aac and the H.264 decoder network cameras
# need from gstreamer1.0-libav; polkit lets castd reboot the unit.
RRECOMMENDS:${PN}-gstreamer = " \
    gstreamer1.0-plugins-bad-va \
    gstreamer1.0-plugins-bad-srt \
    gstreamer1.0-libav \
    polkit \
"
