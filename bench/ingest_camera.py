#!/usr/bin/python3
"""A stand-in for a fleet of H.264 cameras, for bench/ingest.py: one GStreamer RTSP server
whose shared media (one encoder) answers any number of RTSP sessions on rtsp://HOST:PORT/cam.

    /usr/bin/python3 bench/ingest_camera.py --port 8554 --width 1280 --height 720 --fps 30 \\
        --kbps 4000

Prints 'READY rtsp://127.0.0.1:PORT/cam' once listening and, on each line read from stdin,
'SESSIONS N'. Exits on SIGTERM/SIGINT or when stdin closes.

The picture is a moving ball over noise so that x264 actually spends the bit rate a real
720p camera does (a flat test pattern compresses to a few kbit/s and would flatter the
ingest cost). One encoder feeds every session: the bench measures vigil, not this server.
"""
import argparse
import signal
import sys
import threading

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtsp', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, default=8554)
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--height', type=int, default=720)
    ap.add_argument('--fps', type=int, default=30)
    ap.add_argument('--kbps', type=int, default=4000)
    ap.add_argument('--gop', type=int, default=0, help='keyframe interval (default 2 s)')
    args = ap.parse_args()
    Gst.init(None)
    gop = args.gop or args.fps * 2
    caps = 'video/x-raw,width=%d,height=%d,framerate=%d/1' % (args.width, args.height, args.fps)
    launch = ('( videotestsrc is-live=true pattern=snow ! %s ! videoconvert '
              '! x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d '
              'vbv-buf-capacity=1000 ! video/x-h264,profile=constrained-baseline '
              '! rtph264pay name=pay0 pt=96 config-interval=1 )'
              % (caps, args.kbps, gop))
    server = GstRtspServer.RTSPServer()
    server.set_address('127.0.0.1')
    server.set_service(str(args.port))
    server.set_backlog(256)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory('/cam', factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print('cannot listen on port %d' % args.port, file=sys.stderr)
        return 1
    port = server.get_bound_port()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    def stdin_reader():
        for _ in sys.stdin:
            pool = server.get_session_pool()
            print('SESSIONS %d' % pool.get_n_sessions(), flush=True)
        GLib.idle_add(loop.quit)
    threading.Thread(target=stdin_reader, daemon=True).start()
    print('READY rtsp://127.0.0.1:%d/cam' % port, flush=True)
    loop.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
