# A GAN that learns a 1-D Gaussian (the DCGAN example's training loop on a toy distribution).
import sys

import torch
import torch.nn as nn
import torch.optim as optim

torch.manual_seed(999)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
nz, real_mean, real_std = 4, 3.0, 0.5


def weights_init(m):
    if m.__class__.__name__.find("Linear") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.3)
        nn.init.constant_(m.bias.data, 0)


netG = nn.Sequential(nn.Linear(nz, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1))
netD = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1), nn.Sigmoid())
netG.apply(weights_init)
netD.apply(weights_init)
criterion = nn.BCELoss()
real_label, fake_label = 1.0, 0.0
optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
batch = 64
for i in range(steps):
    netD.zero_grad()
    real = torch.randn(batch, 1) * real_std + real_mean
    label = torch.full((batch,), real_label, dtype=torch.float)
    errD_real = criterion(netD(real).view(-1), label)
    errD_real.backward()
    fake = netG(torch.randn(batch, nz))
    label.fill_(fake_label)
    errD_fake = criterion(netD(fake.detach()).view(-1), label)
    errD_fake.backward()
    optimizerD.step()
    netG.zero_grad()
    label.fill_(real_label)
    errG = criterion(netD(fake).view(-1), label)
    errG.backward()
    optimizerG.step()
    if i % 200 == 0:
        print(f"[{i}/{steps}] Loss_D: {(errD_real + errD_fake).item():.4f} Loss_G: {errG.item():.4f}")
with torch.no_grad():
    samples = netG(torch.randn(2000, nz))
print(f"generated mean {samples.mean():.3f}, std {samples.std():.3f}")
print(f"final: {samples.mean().item():.6f}")
