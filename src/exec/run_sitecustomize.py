# The sitecustomize of every Python run (src/exec/runs.c writes it to the run's
# /home/user/.pyroom, which is on PYTHONPATH): tracebacks name workspace files relatively,
# and matplotlib figures (shown, or still open at exit) become PNG files for the run's
# artifacts in /home/user/.pyroom/artifacts (runs.c's PYROOM_DIR). It runs before the
# user's program in the same interpreter: keep it small and leave no names but ours.
import sys
def _pyroom_excepthook(t, v, tb):
    import traceback
    text = ''.join(traceback.format_exception(t, v, tb))
    sys.stderr.write(text.replace('File "/home/user/', 'File "'))
sys.excepthook = _pyroom_excepthook
def _pyroom_save_figures():
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return
    import os
    d = '/home/user/.pyroom/artifacts'
    os.makedirs(d, exist_ok=True)
    for num in plt.get_fignums():
        n = len(os.listdir(d)) + 1
        try:
            plt.figure(num).savefig(f'{d}/figure-{n}.png', format='png', dpi=100)
        except Exception as e:
            print(f'pyroom: could not save figure {num}: {e}', file=sys.stderr)
    plt.close('all')
