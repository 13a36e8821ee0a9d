# castd: x264enc, the software H.264 encoder (needs LICENSE_FLAGS_ACCEPTED += "commercial").
PACKAGECONFIG:append = " x264"
