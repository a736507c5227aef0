# Exports torchvision architectures (random weights, eval mode, seeded) to ONNX for the importer's tests
# and benchmarks: Debian's python3-torch 1.13 + python3-torchvision 0.14 + python3-onnx, nothing downloaded.
#   /usr/bin/python3 scripts/export-torchvision.py OUT_DIR [name ...]
# Each file is OUT_DIR/<name>.onnx, opset 17, input 'input' [1, 3, 224, 224] (batch dynamic), output 'output'.
import os, sys, warnings
import torch, torchvision

warnings.filterwarnings('ignore')
ALL = ['resnet18', 'mobilenet_v3_small', 'mobilenet_v3_large', 'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0',
       'efficientnet_b0', 'regnet_x_400mf', 'regnet_y_400mf', 'mnasnet0_5', 'mnasnet1_0', 'googlenet', 'densenet121']
out = sys.argv[1]
names = sys.argv[2:] or ALL
os.makedirs(out, exist_ok=True)
for name in names:
    torch.manual_seed(0)
    kw = {'aux_logits': False, 'init_weights': True} if name == 'googlenet' else {}
    m = getattr(torchvision.models, name)(weights=None, **kw).eval()
    # random batch-norm statistics, so that folding them is tested too
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 224, 224)
    path = os.path.join(out, name + '.onnx')
    torch.onnx.export(m, x, path, opset_version=17, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}}, do_constant_folding=True)
    print(name, os.path.getsize(path), flush=True)
