"""Independent check of golden.jsonl: recomputes every frame's landmarks in plain Python
(the test model of Tests/LotrdTests/Harness.swift: seeded linear layer on the 8x8 crop,
bilinear warp at pixel centres, black outside, the crop rule) and compares.

    python3 Tests/Fixtures/lotrd/check_golden.py      (from the repository root)
"""
import struct, zlib, json, math, os, sys
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
def readpng(p):
    d=open(p,'rb').read(); i=8; idat=b''
    while i<len(d):
        n=struct.unpack('>I',d[i:i+4])[0]; t=d[i+4:i+8]; c=d[i+8:i+8+n]
        if t==b'IHDR': w,h=struct.unpack('>II',c[:8])
        if t==b'IDAT': idat+=c
        i+=12+n
    raw=zlib.decompress(idat); rows=[]; st=w*3
    prev=bytearray(st)
    for y in range(h):
        f=raw[y*(st+1)]; line=bytearray(raw[y*(st+1)+1:(y+1)*(st+1)])
        assert f==0
        rows.append(line)
    return w,h,rows
bias=struct.unpack('<136f',open('Tests/Fixtures/reference/lotr-tiny/afw_2288136183_1.landmarks.bin','rb').read())
n=68; size=8; inputs=192; M=(1<<64)-1
state=7; W=[]
for _ in range(2*n*inputs):
    state=(state*6364136223846793005+1442695040888963407)&M
    W.append(((state>>40)/float(1<<24)-0.5)*0.004)
def landmarks(path):
    w,h,rows=readpng(path)
    side=1.3*max(w,h); a=[side,0,w/2,0,side,h/2]
    def px(x,y,c):
        if x<0 or y<0 or x>=w or y>=h: return 0
        return rows[y][3*x+c]
    x=[]
    for i in range(size):
        for j in range(size):
            u=(j+0.5)/size-0.5; v=(i+0.5)/size-0.5
            sx=a[0]*u+a[1]*v+a[2]-0.5; sy=a[3]*u+a[4]*v+a[5]-0.5
            x0=math.floor(sx); y0=math.floor(sy); fx=sx-x0; fy=sy-y0
            for c in range(3):
                val=(px(x0,y0,c)*(1-fx)*(1-fy)+px(x0+1,y0,c)*fx*(1-fy)+px(x0,y0+1,c)*(1-fx)*fy+px(x0+1,y0+1,c)*fx*fy)/255
                x.append((val-0.5)/0.25)
    out=[]
    for k in range(2*n):
        s=bias[k]+sum(W[k*inputs+m]*x[m] for m in range(inputs))
        out.append(min(1,max(0,s)))
    pts=[(a[0]*(out[2*i]-0.5)+a[2], a[4]*(out[2*i+1]-0.5)+a[5]) for i in range(n)]
    return pts
golden=[json.loads(l) for l in open('Tests/Fixtures/lotrd/golden.jsonl')]
frames=sorted(f for f in os.listdir('Tests/Fixtures/lotrd/clip') if f.endswith('.png'))
worst=0.0
for name,g in zip(frames,golden):
    pts=landmarks('Tests/Fixtures/lotrd/clip/'+name)
    for (px_,py_),(gx,gy) in zip(pts,g['faces'][0]['points']):
        worst=max(worst,abs(px_-gx),abs(py_-gy))
print("frames %d, golden lines %d, largest difference %.3f px" % (len(frames), len(golden), worst))
sys.exit(0 if len(frames)==len(golden) and worst<=0.02 else 1)
