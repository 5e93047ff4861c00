"""Recipe search 2 for the mini-unCLIP decoder: latent (VQGAN 32 x 8 x 8) against pixel (3 x 32 x 32) diffusion,
epsilon- against x0-prediction (x0 weighted by min(SNR, 5)), at a few step counts. Same outputs as sweep.py
(VQGAN codes for latent runs, uint8 pixels for pixel runs), one <run>.pt per run in $OUT.
"""
import search

RUNS = {
 "Px1500": dict(space="pixel", pred="x0", steps=1500),
 "Pe1500": dict(space="pixel", pred="eps", steps=1500),
 "Lx1500": dict(space="latent", pred="x0", steps=1500),
 "Pxw1500": dict(space="pixel", pred="x0", steps=1500, pw=(32, 64, 128)),
 "Px3000": dict(space="pixel", pred="x0", steps=3000),
 "Lx2500": dict(space="latent", pred="x0", steps=2500),
 "Pe5000": dict(space="pixel", pred="eps", steps=5000),
}

if __name__ == "__main__":
    search.run_all(RUNS, modes=("text", "oracle"), guidances=(1.0, 3.0, 5.0))
