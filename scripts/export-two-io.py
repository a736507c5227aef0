# A two-input, two-output model exported by PyTorch (random weights, fixed seed): an image branch (conv,
# dense) and a feature-vector branch joined into a class head and a value head. test/multi-io-onnx.test.ts
# loads it, predicts both outputs against ONNX Runtime, fine-tunes one head and exports it back.
# Run with Debian's python3 (torch 1.13): /usr/bin/python3 scripts/export-two-io.py test/fixtures/two_io.onnx
import sys
import torch
from torch import nn

torch.manual_seed(7)


class TwoIO(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.img = nn.Linear(4 * 6 * 6, 8)
        self.vec = nn.Linear(5, 8)
        self.cls = nn.Linear(16, 3)
        self.reg = nn.Linear(16, 1)

    def forward(self, image, features):
        a = torch.relu(self.img(torch.flatten(torch.relu(self.conv(image)), 1)))
        h = torch.cat([a, torch.tanh(self.vec(features))], 1)
        return self.cls(h), self.reg(h)


m = TwoIO().eval()
dyn = {k: {0: 'N'} for k in ['image', 'features', 'logits', 'value']}
torch.onnx.export(m, (torch.randn(2, 1, 6, 6), torch.randn(2, 5)), sys.argv[1], input_names=['image', 'features'],
                  output_names=['logits', 'value'], dynamic_axes=dyn, opset_version=13)
