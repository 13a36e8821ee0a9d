# castd: voaacenc (AAC audio), srt (SRT network cameras), va (hardware H.264 where present).
PACKAGECONFIG:append = " voaacenc srt va"
