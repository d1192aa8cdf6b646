#!/usr/bin/python3
# Rewrites h362's SPS (High, 642x362): adds seq_scaling_matrix_present_flag with two explicit
# lists (one 4x4, one 8x8 "use default"), and switches pic_order_cnt_type 0 to 1 with a
# 3-entry cycle; everything after (sizes, cropping, VUI) is copied bit for bit.
# Usage, next to h362.h264 (see tests/unit/test_h26x.c): h26x_sps_rewrite.py [poc1]
# writes h362sl.h264 (or h362slpoc1.h264) and prints the new SPS in hex.
import sys
def unescape(b):
    out=bytearray(); z=0
    for x in b:
        if z>=2 and x==3: z=0; continue
        z = z+1 if x==0 else 0; out.append(x)
    return bytes(out)
def escape(b):
    out=bytearray(); z=0
    for x in b:
        if z>=2 and x<=3: out.append(3); z=0
        out.append(x); z = z+1 if x==0 else 0
    return bytes(out)
class R:
    def __init__(s,b): s.b=b; s.p=0
    def u(s,n):
        v=0
        for _ in range(n): v=(v<<1)|((s.b[s.p//8]>>(7-s.p%8))&1); s.p+=1
        return v
    def ue(s):
        z=0
        while s.u(1)==0: z+=1
        return (1<<z)-1+s.u(z)
class W:
    def __init__(s): s.bits=[]
    def u(s,n,v): s.bits+= [(v>>(n-1-i))&1 for i in range(n)]
    def ue(s,v):
        v+=1; n=v.bit_length(); s.u(n-1,0); s.u(n,v)
    def se(s,v): s.ue(2*v-1 if v>0 else -2*v)
    def bytes(s):
        b=s.bits+[0]*(-len(s.bits)%8)
        return bytes(int(''.join(map(str,b[i:i+8])),2) for i in range(0,len(b),8))
d=open('h362.h264','rb').read()
sps=d.split(b'\0\0\1')[1].rstrip(b'\0')
r=R(unescape(sps)); w=W()
w.u(8,r.u(8)); w.u(8,r.u(8)); w.u(8,r.u(8)); w.u(8,r.u(8))   # header, profile, flags, level
w.ue(r.ue())                                                 # sps id
chroma=r.ue(); w.ue(chroma); assert chroma==1
w.ue(r.ue()); w.ue(r.ue()); w.u(1,r.u(1))                    # bit depths, bypass
assert r.u(1)==0; w.u(1,1)                                   # seq_scaling_matrix_present_flag
for i in range(8):
    if i==0:
        w.u(1,1); [w.se(dl) for dl in [5,-3,2,1,0,7,-9,4,3,2,1,1,-1,-2,6,0]]
    elif i==6:
        w.u(1,1); w.se(-8)                                   # nextScale 0: use default
    else: w.u(1,0)
w.ue(r.ue())                                                 # log2_max_frame_num_minus4
if len(sys.argv) > 1:
    assert r.ue()==0; r.ue()                                 # drop poc type 0 and its lsb
    w.ue(1); w.u(1,1); w.se(-2); w.se(3); w.ue(3); w.se(2); w.se(-1); w.se(40)
rest=len(r.b)*8-r.p
while r.p < len(r.b)*8: w.u(1,r.u(1))                        # the rest, trailing bits included
out=escape(w.bytes()).rstrip(b'\0')
au=d.split(b'\0\0\1')
stream=b'\0\0\0\1'+out+b'\0\0\0\1'+b'\0\0\1'.join(au[2:])
open('h362sl%s.h264' % ('poc1' if len(sys.argv) > 1 else ''),'wb').write(stream)
print(out.hex())
