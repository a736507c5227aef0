# A small transformer block (single-head attention, LayerNorm, a tanh-GELU MLP) exported to ONNX with random
# weights, for the importer's tests: /usr/bin/python3 scripts/export-attention.py OUT.onnx [opset]
import sys, math, torch, torch.nn as nn, torch.nn.functional as F

class Block(nn.Module):
    def __init__(s, d=16, hidden=32):
        super().__init__()
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
        s.n1, s.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        s.f1, s.f2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
        s.scale = 1 / math.sqrt(d)
    def forward(s, x):                                   # x [batch, tokens, d]
        h = s.n1(x)
        att = torch.softmax(torch.matmul(s.q(h), s.k(h).transpose(1, 2)) * s.scale, dim=-1)
        x = x + s.o(torch.matmul(att, s.v(h)))
        return x + s.f2(F.gelu(s.f1(s.n2(x)), approximate='tanh'))

torch.manual_seed(0)
m = Block().eval()
torch.onnx.export(m, torch.randn(2, 8, 16), sys.argv[1], opset_version=int(sys.argv[2]) if len(sys.argv) > 2 else 17,
                  input_names=['tokens'], output_names=['out'], dynamic_axes={'tokens': {0: 'batch'}, 'out': {0: 'batch'}})
