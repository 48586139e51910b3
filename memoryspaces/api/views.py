from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from config.api.serializers import page_of
from config.api.views import ApiView
from memoryspaces import selectors, services
from memoryspaces.api.base import SpaceScopedView
from memoryspaces.api.serializers import (
    MemorySpaceCreateIn,
    MemorySpaceListQuery,
    MemorySpaceOut,
    MemorySpaceUpdateIn,
    SpaceConflictOut,
    VersionOut,
)

TAG = ["Memory spaces"]
MemorySpacePage = page_of(MemorySpaceOut, "PaginatedMemorySpaceList")


class VersionView(ApiView):
    @extend_schema(tags=["Service"], responses=VersionOut, summary="API version", operation_id="getVersion")
    def get(self, request):
        return Response({"versionString": settings.API_VERSION_STRING})


class MemorySpaceListView(ApiView):
    @extend_schema(tags=TAG, parameters=[MemorySpaceListQuery], responses=MemorySpacePage,
                   summary="List the memory spaces of the caller's tenant", operation_id="listMemorySpaces")
    def get(self, request):
        query = self.validate_query(MemorySpaceListQuery)
        spaces = selectors.space_list(user=request.user, deduplication_key=query.get("deduplicationKey"))
        return self.page(spaces, MemorySpaceOut, offset=query["offset"], limit=query["limit"])


class MemorySpaceCreateView(ApiView):
    @extend_schema(tags=TAG, request=MemorySpaceCreateIn, responses={201: MemorySpaceOut, 409: SpaceConflictOut},
                   summary="Create a memory space", operation_id="createMemorySpace")
    def post(self, request):
        fields = self.validate_body(MemorySpaceCreateIn)
        space = services.space_create(owner=request.user, fields=fields)
        return Response(MemorySpaceOut(space).data, status=201)


class MemorySpaceDetailView(SpaceScopedView):
    @extend_schema(tags=TAG, responses=MemorySpaceOut, summary="Get a memory space", operation_id="getMemorySpace")
    def get(self, request, space_id):
        return Response(MemorySpaceOut(self.get_space()).data)

    @extend_schema(tags=TAG, request=MemorySpaceUpdateIn, responses=MemorySpaceOut,
                   summary="Update a memory space (only the fields sent; null clears)",
                   operation_id="updateMemorySpace")
    def patch(self, request, space_id):
        space = self.get_space()
        fields = self.validate_body(MemorySpaceUpdateIn)
        return Response(MemorySpaceOut(services.space_update(space=space, fields=fields)).data)

    @extend_schema(tags=TAG, responses={204: None}, summary="Delete a memory space (soft delete)",
                   operation_id="deleteMemorySpace")
    def delete(self, request, space_id):
        services.space_soft_delete(space=self.get_space())
        return Response(status=204)

