# The matplotlib backend of every Python run (MPLBACKEND=module://pyroom_backend; written
# next to run_sitecustomize.py by src/exec/runs.c): Agg, whose show() saves the figures
# instead of warning. Figures still open at exit are saved by an atexit hook registered
# here, after pyplot's own (which destroys them), so that ours runs first.
import atexit, sitecustomize
atexit.register(sitecustomize._pyroom_save_figures)
from matplotlib.backends.backend_agg import _BackendAgg
from matplotlib.backend_bases import _Backend
@_Backend.export
class _BackendPyroom(_BackendAgg):
    @staticmethod
    def show(*args, **kwargs):
        import sitecustomize
        sitecustomize._pyroom_save_figures()
