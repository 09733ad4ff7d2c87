"""Values every page needs: whether replies are simulated (demo mode)."""

from django.conf import settings


def workspace(request):
    return {"demo_mode": settings.DEMO_MODE}
